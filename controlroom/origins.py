"""Which pages may open the websocket: the same origin, scheme, host and port, or a trusted one.

Browsers send ``Origin`` on every websocket handshake and never enforce the same-origin policy
on websockets themselves, so the server must: otherwise any page the user visits could open a
socket with the user's session cookie and read what it receives. Channels'
``AllowedHostsOriginValidator`` compares only the host name, so ``http://127.0.0.1:9999`` (any
other service on the same machine) passed for ``http://127.0.0.1:8000``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.http.request import split_domain_port, validate_host

DEFAULT_PORTS = {"http": 80, "https": 443}


def origin_parse(value: str) -> tuple[str, str, int] | None:
    """``(scheme, host, port)`` of an ``http``/``https`` origin (port defaulted, host lower
    case), or None when it is not one."""
    try:
        parts = urlsplit(value.strip())
        scheme, host, port = parts.scheme.lower(), (parts.hostname or ""), parts.port
    except ValueError:
        return None
    if scheme not in DEFAULT_PORTS or not host:
        return None
    return scheme, host.lower(), port or DEFAULT_PORTS[scheme]


def origin_allowed(
    *, origin: str | None, secure: bool, host: str | None, trusted: Iterable[str] = ()
) -> bool:
    """True when ``origin`` (the handshake's ``Origin`` header) may open the socket.

    Allowed: the request's own origin — scheme (``https`` when ``secure``), host and port of its
    ``Host`` header, which must itself be in ``ALLOWED_HOSTS`` — or an origin listed in
    ``trusted`` (``CSRF_TRUSTED_ORIGINS``: exact, or ``scheme://*.domain`` for its
    subdomains, ports compared as well). A missing or malformed origin is refused."""
    parsed = origin_parse(origin or "")
    if parsed is None:
        return False
    if any(_trusted_match(parsed, pattern) for pattern in trusted):
        return True
    if not host:
        return False
    domain, _ = split_domain_port(host)
    if not domain or not validate_host(domain, settings.ALLOWED_HOSTS):
        return False
    own = origin_parse(("https://" if secure else "http://") + host)
    return own is not None and own == parsed


def _trusted_match(origin: tuple[str, str, int], pattern: str) -> bool:
    scheme, host, port = origin
    if "://*." not in pattern:
        return origin_parse(pattern) == origin
    wanted = origin_parse(pattern.replace("://*.", "://", 1))
    if wanted is None:
        return False
    w_scheme, w_host, w_port = wanted
    return scheme == w_scheme and port == w_port and (host == w_host or host.endswith("." + w_host))


class WebsocketOriginValidator:
    """ASGI middleware: refuse (HTTP 403 at the handshake) a websocket whose ``Origin`` is not
    allowed by ``origin_allowed``. The connection is secure when the scope's scheme is ``wss``
    or the proxy header of ``SECURE_PROXY_SSL_HEADER`` says so, as Django decides for HTTP."""

    def __init__(self, application: Any) -> None:
        self.application = application

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        if scope["type"] != "websocket":
            raise ValueError("WebsocketOriginValidator only handles websocket connections")
        headers = _headers(scope)
        allowed = origin_allowed(
            origin=headers.get("origin"),
            secure=_is_secure(scope, headers),
            host=headers.get("host"),
            trusted=getattr(settings, "CSRF_TRUSTED_ORIGINS", ()),
        )
        if not allowed:
            return await WebsocketDenier()(scope, receive, send)
        return await self.application(scope, receive, send)


def _headers(scope: dict[str, Any]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for name, value in scope.get("headers", []):
        headers.setdefault(name.decode("latin-1").lower(), value.decode("latin-1"))
    return headers


def _is_secure(scope: dict[str, Any], headers: dict[str, str]) -> bool:
    if scope.get("scheme") == "wss":
        return True
    proxy_header: tuple[str, str] | None = getattr(settings, "SECURE_PROXY_SSL_HEADER", None)
    if not proxy_header:
        return False
    name, expected = proxy_header
    name = name.removeprefix("HTTP_").replace("_", "-").lower()
    value = headers.get(name, "")
    return value.split(",", 1)[0].strip() == expected
