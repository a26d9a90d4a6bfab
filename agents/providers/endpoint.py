"""Where a provider call goes and with which key: the agent's ``connection`` or the SDK's own
environment variables.

With ``connection: <slug>`` the ``ProviderConnection`` row gives the base URL, the timeout and
the key (a ``Secret``, revealed at the moment of use). Without one, the SDKs read their usual
variables themselves (``OPENAI_API_KEY``/``OPENAI_BASE_URL``,
``ANTHROPIC_API_KEY``/``ANTHROPIC_BASE_URL``) and the timeout is ``DEFAULT_TIMEOUT``. A
connection never falls back to an environment key: a local server reached through a connection
must not receive the OpenAI key.

The base URL is always resolved here (the connection's, else the SDK's variable, else the
provider's public API) and given to the SDK explicitly, so the URL checked is the URL used:
the key goes out only if the secret allows that destination (``secret_reveal_to``: the secret
is bound to the connection as it is now, or allows the host), and the SDK sends through
``agents.providers.transport`` (the egress rules of the ``http`` tool, on every request).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from agents.egress import EgressRefused, target_parse
from agents.models import ProviderConnection
from agents.providers.base import ProviderError

DEFAULT_TIMEOUT = 60.0
#: Sent as the key through a connection without one: servers that need none ignore it, and the
#: SDKs would otherwise look for one in the environment (or refuse to start).
NO_KEY = "no-key"
#: Where each SDK goes when neither the connection nor its environment variable says.
DEFAULT_BASE_URLS = {
    "openai": ("OPENAI_BASE_URL", "https://api.openai.com/v1"),
    "anthropic": ("ANTHROPIC_BASE_URL", "https://api.anthropic.com"),
}


@dataclass(frozen=True)
class Endpoint:
    """``api_key`` None means "the SDK's environment variable"; ``base_url`` is always the URL
    the SDK will call."""

    base_url: str
    api_key: str | None = field(repr=False)
    timeout: float
    connection: str = ""

    @property
    def sdk_key(self) -> str | None:
        """The key to give the SDK: None lets it read its environment variable."""
        return self.api_key or (NO_KEY if self.connection else None)


def endpoint_resolve(spec: dict[str, Any], *, kind: str) -> Endpoint:
    """The endpoint of agent ``spec`` for a provider of ``kind`` (``openai``/``anthropic``).

    Reads the database (the connection and its secret). Raises ``ProviderError`` (a domain
    failure: no retry) for a missing connection, a connection of another kind, a base URL that
    is not plainly http(s), or a key that cannot be revealed — including one the secret does
    not allow for this destination (``SecretNotAllowed``, whose message names the secret and
    the host).
    """
    slug = str(spec.get("connection") or "")
    if not slug:
        base_url = _checked(default_base_url(kind))
        return Endpoint(base_url=base_url, api_key=None, timeout=DEFAULT_TIMEOUT)
    connection = ProviderConnection.objects.select_related("api_key").filter(slug=slug).first()
    if connection is None:
        raise ProviderError(f"provider connection {slug!r} does not exist")
    if connection.kind != kind:
        raise ProviderError(f"provider connection {slug!r} is for {connection.kind}, not {kind}")
    base_url = _checked(connection.base_url or default_base_url(kind), slug=slug)
    return Endpoint(
        base_url=base_url,
        api_key=_reveal(connection, base_url),
        timeout=float(connection.timeout_seconds or DEFAULT_TIMEOUT),
        connection=slug,
    )


def default_base_url(kind: str) -> str:
    """The SDK's own choice for ``kind``: its environment variable, else the public API."""
    variable, public = DEFAULT_BASE_URLS[kind]
    return os.environ.get(variable) or public


def _checked(base_url: str, *, slug: str = "") -> str:
    try:
        target_parse(base_url)
    except EgressRefused as exc:
        where = f"provider connection {slug!r}" if slug else "the provider's base URL"
        raise ProviderError(f"{where}: {exc}") from None
    return base_url


def _reveal(connection: ProviderConnection, base_url: str) -> str | None:
    if connection.api_key is None:
        return None
    from agents.secrets import (
        SecretMissing,
        SecretNotAllowed,
        SecretsNotConfigured,
        SecretUnreadable,
        secret_reveal_to,
    )

    try:
        return secret_reveal_to(name=connection.api_key.name, url=base_url, connection=connection)
    except (SecretMissing, SecretNotAllowed, SecretUnreadable, SecretsNotConfigured) as exc:
        # Their messages name the secret, never its value.
        raise ProviderError(f"provider connection {connection.slug!r}: {exc}") from None
