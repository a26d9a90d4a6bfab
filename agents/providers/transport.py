"""The way out for model-provider SDKs: an httpx transport under the SDK's ``http_client`` that
applies ``agents.egress``'s rules to every request the SDK sends.

Each request (the first, every retry, every redirect hop the SDK follows) is checked here, not
just the configured base URL: its URL must be plainly http(s) (``target_parse``), its host must
be the endpoint's own (a key never follows a redirect to another host — httpx would drop
``Authorization`` there but not Anthropic's ``x-api-key``), and the host is resolved once with
every address public or opened by ``CONTROLROOM_EGRESS_ALLOW`` (``target_vet``). The connection
then goes to that vetted address, with the name kept in ``Host`` and TLS SNI, so a second DNS
answer cannot swap it (DNS rebinding). Proxies from the environment are ignored, as in
``agents.egress``.

A refusal raises ``agents.egress.EgressRefused`` out of the transport; the providers turn it
into a ``ProviderError`` (a domain failure: no retry).

Imported by the providers at their first call, with the SDK (httpx2 is slow to import).
"""

from __future__ import annotations

import httpx2

from agents.egress import EgressRefused, egress_limits, target_parse, target_vet


class EgressTransport(httpx2.HTTPTransport):
    """An ``httpx2.HTTPTransport`` that sends only to ``host`` (lowercase, as ``target_parse``
    gives it), after vetting each request with the configured egress allowlist."""

    def __init__(self, *, host: str) -> None:
        super().__init__(trust_env=False)
        self.host = host

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        target = target_parse(str(request.url))
        if target.host != self.host:
            raise EgressRefused(
                f"refused {target.host}: this provider connection only talks to {self.host}"
            )
        limits = egress_limits()
        address = target_vet(target, allow=limits.allow, timeout=limits.connect_timeout_seconds)
        if target.literal is None:
            if target.scheme == "https":
                request.extensions = {**request.extensions, "sni_hostname": target.host}
            request.url = request.url.copy_with(host=str(address))
        return super().handle_request(request)


def egress_client(*, base_url: str, timeout: float) -> httpx2.Client:
    """An ``httpx2.Client`` for an SDK whose calls go to ``base_url``: every request through
    ``EgressTransport``, no environment proxies. Raises ``EgressRefused`` for a base URL that is
    not plainly http(s) (nothing is sent then)."""
    host = target_parse(base_url).host
    return httpx2.Client(
        transport=EgressTransport(host=host),
        timeout=timeout,
        trust_env=False,
        follow_redirects=False,
    )
