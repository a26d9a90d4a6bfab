"""The one way out: every outbound HTTP request made on an agent's behalf goes through here.

An agent (or a template it fills) chooses these URLs, so they are hostile until vetted:

- Only ``http``/``https`` URLs in plain form: no userinfo, no numeric shorthands a resolver
  would read as an address (``http://2130706433/``, ``http://0x7f.1/``, ``http://0177.1/``),
  no IPv4-mapped IPv6, no zone ids, no whitespace, control characters or backslashes.
- The host is resolved once, and **every** address it resolves to must be public: loopback,
  private (RFC 1918, ``fc00::/7``), link-local, CGNAT (``100.64/10``), ``0.0.0.0/8``,
  multicast, reserved, unspecified and cloud-metadata addresses are refused, as are the
  metadata host names. Then the connection goes to the vetted address itself (the ``Host``
  header and TLS SNI keep the name), so a second DNS answer cannot swap it (DNS rebinding).
- Redirects are followed here, not by httpx, and every hop is vetted the same way; at most
  ``max_redirects`` hops, and never from https down to http. Credentials (``Authorization``,
  ``Cookie`` and any header the caller names as one) never follow a redirect to another origin.
- Model-provider SDKs reach their APIs through ``agents.providers.transport``, an httpx
  transport that applies these same checks (``target_parse``, ``target_vet``) to every request
  it sends and connects to the vetted address.
- Bodies are streamed and cut off at ``max_bytes``; connect, read and total time are bounded.
- Proxies from the environment are ignored: a proxy would resolve the name itself.

``CONTROLROOM_EGRESS_ALLOW`` (``controlroom.env.EgressAllow`` entries) opens what it names: a
host name (any address it resolves to), an address or a network, each optionally on one port.
A cloud-metadata address opens only for an entry naming that exact address or host.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import ssl
import time
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urljoin, urlsplit

from django.conf import settings

from controlroom.env import EgressAllow, EgressEnv

if TYPE_CHECKING:
    import httpx

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

USER_AGENT = "controlroom-egress/1"
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
# Credentials that must not follow a redirect to another origin.
ORIGIN_BOUND_HEADERS = ("authorization", "proxy-authorization", "cookie")

METADATA_ADDRESSES: frozenset[IpAddress] = frozenset(
    ipaddress.ip_address(address)
    for address in (
        "169.254.169.254",  # AWS, GCP, Azure, OpenStack, DigitalOcean, Oracle
        "169.254.170.2",  # AWS ECS task metadata
        "fd00:ec2::254",  # AWS over IPv6
        "100.100.100.200",  # Alibaba Cloud
        "192.0.0.192",  # Oracle Cloud (legacy)
    )
)
METADATA_HOSTS = frozenset(
    {
        "metadata",
        "metadata.google.internal",
        "metadata.goog",
        "metadata.azure.com",
        "instance-data",
        "instance-data.ec2.internal",
    }
)

_HOST_LABELS = re.compile(r"^[a-z0-9_](?:[a-z0-9_-]{0,62})(?:\.[a-z0-9_][a-z0-9_-]{0,62})*$")
# A label a WHATWG/inet_aton parser would read as a number: decimal, octal or hex.
_NUMERIC_LABEL = re.compile(r"^(?:0x[0-9a-f]*|[0-9]+)$")
_FORBIDDEN_CHARACTERS = re.compile(r"[\x00-\x20\x7f\\]")
_resolver = ThreadPoolExecutor(max_workers=4, thread_name_prefix="egress-dns")


class EgressError(Exception):
    """The request cannot be made or completed; retrying will not help."""


class EgressRefused(EgressError):
    """The target is not allowed. Raised before any connection is opened."""


class EgressTooLarge(EgressError):
    """The response is bigger than the size limit; reading stopped there."""


class EgressTransient(EgressError):
    """A timeout, a dropped connection or a resolver hiccup: a retry may succeed."""


class EgressTimeout(EgressTransient):
    """A connect, read or total time limit ran out."""


@dataclass(frozen=True)
class Target:
    """A vetted URL's parts. ``host`` is lowercased, without brackets or trailing dot."""

    scheme: str
    host: str
    port: int
    path: str  # path and query, starting with "/"
    literal: IpAddress | None

    @property
    def origin(self) -> tuple[str, str, int]:
        return (self.scheme, self.host, self.port)

    @property
    def authority(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.scheme == "https" else 80
        return host if self.port == default else f"{host}:{self.port}"

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.authority}{self.path}"


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


# --- Vetting ---------------------------------------------------------------------------------


def target_parse(url: str) -> Target:
    """Split ``url`` into a ``Target``, refusing every form that is not plainly http(s).

    Raises ``EgressRefused``. Pure: no resolution, no network.
    """
    if not isinstance(url, str) or len(url) > 8000:
        raise EgressRefused("the URL must be a string of at most 8000 characters")
    if _FORBIDDEN_CHARACTERS.search(url):
        raise EgressRefused("the URL contains whitespace, control characters or a backslash")
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in {"http", "https"}:
        raise EgressRefused(f"only http and https URLs are allowed, not {scheme or 'none'!r}")
    if "@" in parts.netloc:
        raise EgressRefused("URLs with user information (user@host) are not allowed")
    try:
        port = parts.port or (443 if scheme == "https" else 80)
    except ValueError:
        raise EgressRefused("the URL's port is not a number from 1 to 65535") from None
    host, literal = _host_parse(parts.netloc)
    path = parts.path or "/"
    if not path.startswith("/"):
        raise EgressRefused("the URL's path must start with '/'")
    return Target(
        scheme=scheme,
        host=host,
        port=port,
        path=path + (f"?{parts.query}" if parts.query else ""),
        literal=literal,
    )


def _host_parse(netloc: str) -> tuple[str, IpAddress | None]:
    if netloc.startswith("["):
        inside = netloc[1:].partition("]")[0]
        if "%" in inside:
            raise EgressRefused("IPv6 zone identifiers are not allowed")
        try:
            address = ipaddress.IPv6Address(inside)
        except ValueError:
            raise EgressRefused(f"{inside!r} is not an IPv6 address") from None
        if address.ipv4_mapped is not None:
            raise EgressRefused("IPv4-mapped IPv6 addresses are not allowed")
        return str(address), address
    raw = netloc.rpartition(":")[0] if ":" in netloc else netloc
    host = raw.lower().removesuffix(".")
    if not host:
        raise EgressRefused("the URL has no host")
    if _NUMERIC_LABEL.match(host.rpartition(".")[2]):
        return _ipv4_literal(host)
    try:
        host = host.encode("idna").decode("ascii")
    except UnicodeError:
        raise EgressRefused(f"{host!r} is not a valid host name") from None
    if not _HOST_LABELS.match(host) or len(host) > 253:
        raise EgressRefused(f"{host!r} is not a valid host name")
    return host, None


def _ipv4_literal(host: str) -> tuple[str, IpAddress]:
    """Only the canonical dotted quad: resolvers read ``127.1``, ``0x7f.1`` and ``2130706433``
    as 127.0.0.1, which is exactly how address checks get fooled."""
    labels = host.split(".")
    if len(labels) != 4 or not all(label.isdigit() for label in labels):
        raise EgressRefused(f"{host!r} is a numeric host in a non-standard form")
    try:
        address = ipaddress.IPv4Address(host)  # refuses leading zeros (octal)
    except ValueError:
        raise EgressRefused(f"{host!r} is a numeric host in a non-standard form") from None
    return str(address), address


def address_refusal(address: IpAddress) -> str | None:
    """Why ``address`` may not be reached by default, or ``None`` if it is a public address."""
    if address in METADATA_ADDRESSES:
        return "a cloud metadata address"
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return "an IPv4-mapped IPv6 address"
        embedded = address.sixtofour or (address.teredo[1] if address.teredo else None)
        if embedded is not None and address_refusal(embedded):
            return "an IPv6 address wrapping a non-public IPv4 address"
    checks = (
        (address.is_unspecified, "an unspecified address"),
        (address.is_loopback, "a loopback address"),
        (address.is_link_local, "a link-local address"),
        (address.is_multicast, "a multicast address"),
        (address in ipaddress.IPv4Network("100.64.0.0/10"), "a carrier-grade NAT address"),
        (address.is_reserved, "a reserved address"),
        (address.is_private, "a private address"),
        (not address.is_global, "not a public address"),
    )
    return next((reason for failed, reason in checks if failed), None)


def _allowed(target: Target, address: IpAddress | None, allow: tuple[EgressAllow, ...]) -> bool:
    """Whether an allowlist entry opens ``address`` (or, for ``None``, the host name) here."""
    metadata = address in METADATA_ADDRESSES or target.host in METADATA_HOSTS
    for entry in allow:
        if entry.port is not None and entry.port != target.port:
            continue
        if entry.host:
            if entry.host == target.host:
                return True
        elif (
            entry.network is not None
            and address is not None
            and address in entry.network
            and (not metadata or entry.network.num_addresses == 1)
        ):
            return True
    return False


def target_vet(target: Target, *, allow: tuple[EgressAllow, ...], timeout: float) -> IpAddress:
    """Resolve ``target`` and return the one address to connect to.

    Every resolved address must be public or opened by ``allow``; one refused address refuses
    the target (a resolver that answers "public, then loopback" gets nothing).
    Raises ``EgressRefused``, ``EgressTransient`` (resolver trouble) or ``EgressError``.
    """
    if target.host in METADATA_HOSTS and not _allowed(target, None, allow):
        raise EgressRefused(f"refused {target.host}: a cloud metadata host")
    addresses = [target.literal] if target.literal else _resolve(target, timeout=timeout)
    for address in addresses:
        reason = address_refusal(address)
        if reason and not _allowed(target, address, allow):
            shown = target.host if target.literal else f"{target.host} ({address})"
            raise EgressRefused(f"refused {shown}: {reason}")
    return addresses[0]


def _resolve(target: Target, *, timeout: float) -> list[IpAddress]:
    future = _resolver.submit(
        socket.getaddrinfo, target.host, target.port, 0, socket.SOCK_STREAM, socket.IPPROTO_TCP
    )
    try:
        infos = future.result(timeout=timeout)
    except FutureTimeout:
        raise EgressTimeout(f"resolving {target.host} took longer than {timeout:g}s") from None
    except socket.gaierror as exc:
        if exc.errno in (socket.EAI_AGAIN, getattr(socket, "EAI_SYSTEM", None)):
            raise EgressTransient(f"could not resolve {target.host} (try again)") from None
        raise EgressError(f"the host {target.host} does not resolve") from None
    addresses: list[IpAddress] = []
    for *_, sockaddr in infos:
        address = ipaddress.ip_address(str(sockaddr[0]).partition("%")[0])
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise EgressError(f"the host {target.host} does not resolve")
    return addresses


# --- Requesting ------------------------------------------------------------------------------


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
