"""Vetting a target before anything connects: parsing its URL, its addresses, the allowlist.

Owns ``Target`` and ``target_parse`` (only plain http(s) URLs; pure, no network),
``address_refusal`` (why an address is not public), the cloud-metadata addresses and host
names, the match against ``CONTROLROOM_EGRESS_ALLOW`` entries, and ``target_vet``, which
resolves the host once (with a time limit) and returns the one address to connect to.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from urllib.parse import urlsplit

from agents.egress.errors import EgressError, EgressRefused, EgressTimeout, EgressTransient
from controlroom.env import EgressAllow

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

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
