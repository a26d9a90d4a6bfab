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

The package: ``errors`` (what a request fails with), ``vetting`` (parsing a URL, refusing
addresses, the allowlist, resolving) and ``client`` (the request, its redirects and limits).
"""

from agents.egress.client import (
    ORIGIN_BOUND_HEADERS,
    REDIRECT_STATUSES,
    USER_AGENT,
    EgressResponse,
    egress_limits,
    egress_request,
)
from agents.egress.errors import (
    EgressError,
    EgressRefused,
    EgressTimeout,
    EgressTooLarge,
    EgressTransient,
)
from agents.egress.vetting import (
    METADATA_ADDRESSES,
    METADATA_HOSTS,
    IpAddress,
    Target,
    address_refusal,
    target_parse,
    target_vet,
)

__all__ = [
    "METADATA_ADDRESSES",
    "METADATA_HOSTS",
    "ORIGIN_BOUND_HEADERS",
    "REDIRECT_STATUSES",
    "USER_AGENT",
    "EgressError",
    "EgressRefused",
    "EgressResponse",
    "EgressTimeout",
    "EgressTooLarge",
    "EgressTransient",
    "IpAddress",
    "Target",
    "address_refusal",
    "egress_limits",
    "egress_request",
    "target_parse",
    "target_vet",
]
