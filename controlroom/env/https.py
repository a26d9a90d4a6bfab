"""The HTTPS block: what the production settings turn on behind a TLS-terminating proxy.

Owns ``HttpsEnv`` (HSTS, the redirect to HTTPS, the proxy's header), the parsing of
``CONTROLROOM_PROXY_SSL_HEADER`` (``proxy_ssl_header_parse``) and the check that a preload
request is one the preload list accepts (``controlroom/settings/prod.py`` applies it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from controlroom.env.readers import EnvError, _bool, _int, _str


@dataclass(frozen=True)
class HttpsEnv:
    """HTTPS knobs the production settings apply; dev and test serve plain HTTP and ignore them.

    The defaults are the production posture behind a TLS-terminating proxy that sends
    ``X-Forwarded-Proto: https``: HSTS for a year on every subdomain with the preload token,
    plain-HTTP requests redirected to HTTPS (except the probes in ``redirect_exempt``).
    ``CONTROLROOM_HSTS_SECONDS=0`` leaves HSTS to the proxy, ``CONTROLROOM_SSL_REDIRECT=0`` the
    redirect; ``CONTROLROOM_PROXY_SSL_HEADER`` is ``Header-Name: value`` (``none`` when clients
    reach the app server directly: a header a client can forge must not mark a request secure).
    """

    hsts_seconds: int = 31_536_000
    hsts_include_subdomains: bool = True
    hsts_preload: bool = True
    ssl_redirect: bool = True
    # (META key, value) as Django's SECURE_PROXY_SSL_HEADER wants it; None trusts no header.
    proxy_ssl_header: tuple[str, str] | None = ("HTTP_X_FORWARDED_PROTO", "https")
    # Paths (regexes, no leading slash) a load balancer or scraper probes over plain HTTP.
    redirect_exempt: tuple[str, ...] = (r"^healthz$", r"^metrics$")


_HEADER_NAME = re.compile(r"^[A-Za-z0-9-]+$")


def proxy_ssl_header_parse(raw: str) -> tuple[str, str] | None:
    """``X-Forwarded-Proto: https`` into ``("HTTP_X_FORWARDED_PROTO", "https")``; ``none`` into
    ``None``. Raises ``EnvError`` on anything else."""
    text = raw.strip()
    if text.lower() == "none":
        return None
    name, colon, value = text.partition(":")
    name, value = name.strip(), value.strip()
    if not colon or not _HEADER_NAME.match(name) or not value:
        raise EnvError(
            f"CONTROLROOM_PROXY_SSL_HEADER must look like 'X-Forwarded-Proto: https' or be "
            f"'none', got {raw!r}"
        )
    return "HTTP_" + name.upper().replace("-", "_"), value


def _https() -> HttpsEnv:
    header = _str("CONTROLROOM_PROXY_SSL_HEADER")
    env = HttpsEnv(
        hsts_seconds=_int("CONTROLROOM_HSTS_SECONDS", 31_536_000, minimum=0),
        hsts_include_subdomains=_bool("CONTROLROOM_HSTS_INCLUDE_SUBDOMAINS", default=True),
        hsts_preload=_bool("CONTROLROOM_HSTS_PRELOAD", default=True),
        ssl_redirect=_bool("CONTROLROOM_SSL_REDIRECT", default=True),
        proxy_ssl_header=(
            HttpsEnv.proxy_ssl_header if header is None else proxy_ssl_header_parse(header)
        ),
    )
    preloadable = env.hsts_include_subdomains and env.hsts_seconds >= 31_536_000
    if env.hsts_seconds and env.hsts_preload and not preloadable:
        # The preload list refuses such a header; asking for it is a configuration mistake.
        raise EnvError(
            "CONTROLROOM_HSTS_PRELOAD needs CONTROLROOM_HSTS_INCLUDE_SUBDOMAINS and "
            "CONTROLROOM_HSTS_SECONDS of at least 31536000 (set CONTROLROOM_HSTS_PRELOAD=0)"
        )
    return env
