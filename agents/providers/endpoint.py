"""Where a provider call goes and with which key: the agent's ``connection`` or the SDK's own
environment variables.

With ``connection: <slug>`` the ``ProviderConnection`` row gives the base URL, the timeout and
the key (a ``Secret``, revealed at the moment of use). Without one, the SDKs read their usual
variables themselves (``OPENAI_API_KEY``/``OPENAI_BASE_URL``,
``ANTHROPIC_API_KEY``/``ANTHROPIC_BASE_URL``) and the timeout is ``DEFAULT_TIMEOUT``. A
connection never falls back to an environment key: a local server reached through a connection
must not receive the OpenAI key.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from agents.models import ProviderConnection
from agents.providers.base import ProviderError

DEFAULT_TIMEOUT = 60.0
#: Sent as the key through a connection without one: servers that need none ignore it, and the
#: SDKs would otherwise look for one in the environment (or refuse to start).
NO_KEY = "no-key"


@dataclass(frozen=True)
class Endpoint:
    """``api_key``/``base_url`` None mean "the SDK's environment default"."""

    base_url: str | None
    api_key: str | None = field(repr=False)
    timeout: float
    connection: str = ""

    @property
    def sdk_key(self) -> str | None:
        """The key to give the SDK: None lets it read its environment variable."""
        return self.api_key or (NO_KEY if self.connection else None)


def endpoint_resolve(spec: dict[str, Any], *, kind: str) -> Endpoint:
    """The endpoint of agent ``spec`` for a provider of ``kind`` (``openai``/``anthropic``).

    Reads the database (the connection and its secret). Raises ``ProviderError`` for a missing
    connection, a connection of another kind, or a key that cannot be revealed.
    """
    slug = str(spec.get("connection") or "")
    if not slug:
        return Endpoint(base_url=None, api_key=None, timeout=DEFAULT_TIMEOUT)
    connection = ProviderConnection.objects.select_related("api_key").filter(slug=slug).first()
    if connection is None:
        raise ProviderError(f"provider connection {slug!r} does not exist")
    if connection.kind != kind:
        raise ProviderError(f"provider connection {slug!r} is for {connection.kind}, not {kind}")
    return Endpoint(
        base_url=connection.base_url or None,
        api_key=_reveal(connection),
        timeout=float(connection.timeout_seconds or DEFAULT_TIMEOUT),
        connection=slug,
    )


def _reveal(connection: ProviderConnection) -> str | None:
    if connection.api_key is None:
        return None
    from agents.secrets import SecretMissing, SecretsNotConfigured, SecretUnreadable, secret_reveal

    try:
        return secret_reveal(connection.api_key.name)
    except (SecretMissing, SecretUnreadable, SecretsNotConfigured) as exc:
        # Their messages name the secret, never its value.
        raise ProviderError(f"provider connection {connection.slug!r}: {exc}") from None
