"""Making a request to a vetted target: redirects vetted hop by hop, the body size-limited.

Owns ``egress_request`` (and ``EgressResponse``, ``egress_limits``): each hop's target is
vetted (``agents.egress.vetting.target_vet``) and connected to by its vetted address, with the
name in ``Host`` and TLS SNI; redirects are followed here (never from https down to http,
credentials kept to their origin); connect, read and total time are bounded and the body is
cut off at ``max_bytes``.
"""

from __future__ import annotations

import ssl
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urljoin

from django.conf import settings

from agents.egress.errors import (
    EgressError,
    EgressRefused,
    EgressTimeout,
    EgressTooLarge,
    EgressTransient,
)
from agents.egress.vetting import IpAddress, Target, target_parse, target_vet
from controlroom.env import EgressEnv

if TYPE_CHECKING:
    import httpx

USER_AGENT = "controlroom-egress/1"
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
# Credentials that must not follow a redirect to another origin.
ORIGIN_BOUND_HEADERS = ("authorization", "proxy-authorization", "cookie")


@dataclass(frozen=True)
class EgressResponse:
    status: int
    headers: dict[str, str]  # lowercased names; repeated headers joined with ", "
    content: bytes
    url: str  # the final URL, after redirects
    redirects: int
    encoding: str | None = None

    @property
    def text(self) -> str:
        return self.content.decode(self.encoding or "utf-8", errors="replace")


@dataclass
class _Hop:
    method: str
    target: Target
    headers: dict[str, str]
    content: bytes | None


def egress_limits() -> EgressEnv:
    """The configured limits and allowlist (``settings.CONTROLROOM["EGRESS"]``)."""
    limits = settings.CONTROLROOM.get("EGRESS")
    return limits if isinstance(limits, EgressEnv) else EgressEnv()


def egress_request(
    *,
    method: str,
    url: str,
    headers: dict[str, str] | None = None,
    content: bytes | None = None,
    params: dict[str, Any] | None = None,
    limits: EgressEnv | None = None,
    max_redirects: int = 5,
    verify: ssl.SSLContext | bool = True,
    credential_headers: tuple[str, ...] = (),
) -> EgressResponse:
    """Make one HTTP request to a vetted target, following vetted redirects; read the body.

    ``limits`` defaults to the configured ones. ``verify`` exists for tests with their own CA.
    ``credential_headers`` names headers that, like ``Authorization``, are dropped when a
    redirect leaves the origin (a credential bound to a host stays with that host).
    Raises ``EgressRefused`` before connecting to anything not allowed, ``EgressTooLarge``,
    ``EgressTimeout``/``EgressTransient`` (worth a retry) or ``EgressError``.
    No side effects here beyond the request itself; idempotency is the caller's business.
    """
    limits = limits or egress_limits()
    deadline = time.monotonic() + limits.total_timeout_seconds
    target = target_parse(url)
    if params:
        target = _with_params(target, params)
    hop = _Hop(method.upper(), target, _clean_headers(headers or {}), content)
    bound = (*ORIGIN_BOUND_HEADERS, *(name.lower() for name in credential_headers))
    for redirects in range(max_redirects + 1):
        address = target_vet(hop.target, allow=limits.allow, timeout=_remaining(deadline))
        response = _exchange(hop, address, limits=limits, deadline=deadline, verify=verify)
        location = response.headers.get("location")
        if response.status not in REDIRECT_STATUSES or not location:
            return EgressResponse(
                status=response.status,
                headers=response.headers,
                content=response.content,
                url=hop.target.url,
                redirects=redirects,
                encoding=response.encoding,
            )
        hop = _redirected(hop, response.status, location, bound=bound)
    raise EgressError(f"more than {max_redirects} redirects")


def _with_params(target: Target, params: dict[str, Any]) -> Target:
    encoded = urlencode(
        {key: _param(value) for key, value in params.items()}, doseq=False, safe="/:"
    )
    joiner = "&" if "?" in target.path else "?"
    return Target(
        target.scheme, target.host, target.port, target.path + joiner + encoded, target.literal
    )


def _param(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _clean_headers(headers: dict[str, str]) -> dict[str, str]:
    return {name.lower(): value for name, value in headers.items() if name.lower() != "host"}


def _remaining(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise EgressTimeout("the request took longer than its total time limit")
    return left


def _redirected(hop: _Hop, status: int, location: str, *, bound: tuple[str, ...]) -> _Hop:
    """The next hop: vetted again by the caller; credentials stay with their origin."""
    target = target_parse(urljoin(hop.target.url, location))
    if hop.target.scheme == "https" and target.scheme == "http":
        raise EgressRefused("refused a redirect from https down to http")
    headers = dict(hop.headers)
    if target.origin != hop.target.origin:
        for name in bound:
            headers.pop(name, None)
    method, content = hop.method, hop.content
    if status == 303 or (status in (301, 302) and method == "POST"):
        method = "HEAD" if method == "HEAD" else "GET"
        content = None
        headers.pop("content-type", None)
    return _Hop(method, target, headers, content)


@dataclass
class _Received:
    status: int
    headers: dict[str, str]
    content: bytes
    encoding: str | None


def _exchange(
    hop: _Hop, address: IpAddress, *, limits: EgressEnv, deadline: float, verify: Any
) -> _Received:
    """One request to ``address`` with ``hop``'s name in ``Host`` and SNI; body size-limited."""
    # Imported here: httpx (with the CLI it pulls in) is slow to import, and only the
    # processes that make requests need it.
    import httpx

    left = _remaining(deadline)
    timeout = httpx.Timeout(
        connect=min(limits.connect_timeout_seconds, left),
        read=min(limits.read_timeout_seconds, left),
        write=min(limits.read_timeout_seconds, left),
        pool=min(limits.connect_timeout_seconds, left),
    )
    shown = f"[{address}]" if address.version == 6 else str(address)
    url = f"{hop.target.scheme}://{shown}:{hop.target.port}{hop.target.path}"
    extensions = {"sni_hostname": hop.target.host} if hop.target.literal is None else {}
    headers = {"user-agent": USER_AGENT, **hop.headers, "host": hop.target.authority}
    # A client per hop: connections are pooled by address, and a pooled TLS connection
    # must never carry a request for another name.
    with httpx.Client(
        timeout=timeout, verify=verify, trust_env=False, follow_redirects=False
    ) as client:
        try:
            with client.stream(
                hop.method, url, headers=headers, content=hop.content, extensions=extensions
            ) as response:
                content = _read_limited(response, limits=limits, deadline=deadline)
                return _Received(
                    status=response.status_code,
                    headers=_headers(response.headers),
                    content=content,
                    encoding=response.charset_encoding,
                )
        except httpx.TimeoutException:
            raise EgressTimeout(f"{hop.target.host} did not answer in time") from None
        except httpx.TransportError as exc:
            raise _transport_error(hop.target, exc) from None


def _read_limited(response: httpx.Response, *, limits: EgressEnv, deadline: float) -> bytes:
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limits.max_bytes:
        raise EgressTooLarge(f"the response is larger than {limits.max_bytes} bytes")
    body = bytearray()
    for chunk in response.iter_bytes():
        body += chunk
        if len(body) > limits.max_bytes:
            raise EgressTooLarge(f"the response is larger than {limits.max_bytes} bytes")
        _remaining(deadline)
    return bytes(body)


def _headers(headers: httpx.Headers) -> dict[str, str]:
    joined: dict[str, str] = {}
    for name, value in headers.multi_items():
        key = name.lower()
        joined[key] = f"{joined[key]}, {value}" if key in joined else value
    return joined


def _transport_error(target: Target, exc: httpx.TransportError) -> EgressError:
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ssl.SSLCertVerificationError):
            return EgressError(f"{target.host}: TLS certificate verification failed")
        cause = cause.__cause__ or cause.__context__
    return EgressTransient(f"{target.host}: {type(exc).__name__}")
