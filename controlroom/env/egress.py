"""The egress block: outbound HTTP made on an agent's behalf (``agents/egress.py``).

Owns ``EgressEnv`` (the allowlist, the response size cap and the timeouts) and the parsing of
``CONTROLROOM_EGRESS_ALLOW`` entries into ``EgressAllow`` (``egress_allow_parse``).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from controlroom.env.readers import EnvError, _int, _positive, _str

_HOST_NAME = re.compile(
    r"^(?=.{1,253}$)[a-z0-9_](?:[a-z0-9_-]{0,62})(?:\.[a-z0-9_][a-z0-9_-]{0,62})*$"
)

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class EgressAllow:
    """One ``CONTROLROOM_EGRESS_ALLOW`` entry: a host name or an address network, and a port.

    A name entry (``host``) matches URLs naming that host; an address entry (``network``, a
    single address is a /32 or /128) matches resolved addresses. ``port`` ``None`` means any.
    """

    host: str = ""
    network: IpNetwork | None = None
    port: int | None = None


@dataclass(frozen=True)
class EgressEnv:
    allow: tuple[EgressAllow, ...] = ()
    max_bytes: int = 2_000_000
    connect_timeout_seconds: float = 5.0
    read_timeout_seconds: float = 15.0
    total_timeout_seconds: float = 30.0


def _port(entry: str, raw: str) -> int:
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        raise EnvError(f"CONTROLROOM_EGRESS_ALLOW entry {entry!r}: bad port {raw!r}")
    return int(raw)


def egress_allow_parse(raw: str) -> tuple[EgressAllow, ...]:
    """Parse ``host[:port]``, ``ip[:port]``, ``[ipv6]:port`` or CIDR entries, comma-separated.

    Raises ``EnvError`` naming the first bad entry; a CIDR with host bits set is an error (it
    usually means a typo, and silently widening or narrowing it would open the wrong thing).
    """
    return tuple(_egress_entry(item.strip()) for item in raw.split(",") if item.strip())


def _egress_entry(entry: str) -> EgressAllow:
    text = entry.lower()
    try:
        if "/" in text:
            return EgressAllow(network=ipaddress.ip_network(text, strict=True))
        if text.startswith("["):
            address, _, rest = text[1:].partition("]")
            if rest and not rest.startswith(":"):
                raise ValueError("expected [address]:port")
            port = _port(entry, rest[1:]) if rest else None
            return EgressAllow(network=ipaddress.ip_network(address), port=port)
        if text.count(":") > 1:
            return EgressAllow(network=ipaddress.ip_network(text))
    except EnvError:
        raise
    except ValueError as exc:
        raise EnvError(f"CONTROLROOM_EGRESS_ALLOW entry {entry!r}: {exc}") from exc
    host, colon, raw_port = text.partition(":")
    port = _port(entry, raw_port) if colon else None
    host = host.removesuffix(".")
    try:
        return EgressAllow(network=ipaddress.ip_network(ipaddress.IPv4Address(host)), port=port)
    except ValueError:
        pass
    if not _HOST_NAME.match(host) or host.replace(".", "").isdigit():
        raise EnvError(f"CONTROLROOM_EGRESS_ALLOW entry {entry!r} is not a host, address or CIDR")
    return EgressAllow(host=host, port=port)


def _egress() -> EgressEnv:
    return EgressEnv(
        allow=egress_allow_parse(_str("CONTROLROOM_EGRESS_ALLOW", "") or ""),
        max_bytes=_int("CONTROLROOM_EGRESS_MAX_BYTES", 2_000_000, minimum=1),
        connect_timeout_seconds=_positive("CONTROLROOM_EGRESS_CONNECT_TIMEOUT_SECONDS", 5.0),
        read_timeout_seconds=_positive("CONTROLROOM_EGRESS_READ_TIMEOUT_SECONDS", 15.0),
        total_timeout_seconds=_positive("CONTROLROOM_EGRESS_TOTAL_TIMEOUT_SECONDS", 30.0),
    )
