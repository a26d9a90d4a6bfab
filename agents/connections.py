"""Provider connections: how agents reach a model provider (kind, base URL, API key secret).

The key is named, never held: a connection points at a ``Secret`` row, which only
``agents.secrets.secret_reveal_to`` opens, at the moment of a call — and only if the secret is
bound to this connection as it is now (or allows its host). Naming a secret here does not bind
it: designers may pick any secret, but its value goes nowhere an admin did not allow. An admin
saving a connection (``bind_key=True``) binds its key to it as saved; anyone re-pointing a
connection (kind or base URL) afterwards unbinds it in effect until an admin saves or binds
again.
"""

from __future__ import annotations

from django.db import IntegrityError, transaction

from agents.agents import Problem
from agents.audit import audit_record
from agents.egress import EgressRefused, target_parse
from agents.models import ProviderConnection, Secret
from agents.secrets import secret_bind_connection

MAX_TIMEOUT_SECONDS = 600.0


class ConnectionInvalid(ValueError):
    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(f"{p.field}: {p.message}" for p in problems))
        self.problems = problems


def _checked(
    *, kind: str, base_url: str, api_key: str | None, timeout_seconds: float
) -> Secret | None:
    problems: list[Problem] = []
    if kind not in ProviderConnection.Kind.values:
        problems.append(Problem("kind", "a connection is for openai or anthropic models"))
    if base_url and not base_url.startswith(("http://", "https://")):
        problems.append(Problem("base_url", "an http:// or https:// URL, or blank"))
    elif base_url:
        try:
            target_parse(base_url)
        except EgressRefused as exc:
            problems.append(Problem("base_url", str(exc)))
    if not 1 <= timeout_seconds <= MAX_TIMEOUT_SECONDS:
        problems.append(Problem("timeout_seconds", f"from 1 to {MAX_TIMEOUT_SECONDS:g} seconds"))
    secret = None
    if api_key:
        secret = Secret.objects.defer("ciphertext").filter(name=api_key).first()
        if secret is None:
            problems.append(Problem("api_key", f"there is no secret {api_key!r}"))
    if problems:
        raise ConnectionInvalid(problems)
    return secret


def connection_create(
    *,
    slug: str,
    kind: str,
    base_url: str = "",
    api_key: str | None = None,
    timeout_seconds: float = 60.0,
    bind_key: bool = False,
) -> ProviderConnection:
    """Create a connection; ``api_key`` names a stored secret. ``bind_key`` (only when the
    caller is an admin) binds that secret to the new connection. Raises ``ConnectionInvalid``
    (a taken slug included)."""
    secret = _checked(
        kind=kind, base_url=base_url, api_key=api_key, timeout_seconds=timeout_seconds
    )
    try:
        with transaction.atomic():
            created = ProviderConnection.objects.create(
                slug=slug,
                kind=kind,
                base_url=base_url,
                api_key=secret,
                timeout_seconds=timeout_seconds,
            )
            audit_record(
                kind="config",
                action="connection.created",
                subject=slug,
                data={"kind": kind, "base_url": base_url, "api_key_secret": api_key},
            )
            if bind_key and secret is not None:
                secret_bind_connection(secret=secret, connection=created)
            return created
    except IntegrityError:
        raise ConnectionInvalid(
            [Problem("slug", f"a connection {slug!r} exists already")]
        ) from None


def connection_update(
    *,
    connection: ProviderConnection,
    kind: str,
    base_url: str,
    api_key: str | None,
    timeout_seconds: float,
    bind_key: bool = False,
) -> ProviderConnection:
    """Change everything but the slug (agents refer to it). Agents using the connection pick
    the change up on their next call; saved flow versions name the connection by slug.
    ``bind_key`` (only when the caller is an admin) binds the key to the connection as saved;
    without it, a changed kind or base URL leaves the key's binding behind (the key is refused
    until an admin binds it again)."""
    secret = _checked(
        kind=kind, base_url=base_url, api_key=api_key, timeout_seconds=timeout_seconds
    )
    if kind != connection.kind and connection.agents.exists():
        used = ", ".join(connection.agents.values_list("slug", flat=True)[:5])
        raise ConnectionInvalid(
            [Problem("kind", f"agents use this connection ({used}); its kind cannot change")]
        )
    with transaction.atomic():
        ProviderConnection.objects.filter(pk=connection.pk).update(
            kind=kind, base_url=base_url, api_key=secret, timeout_seconds=timeout_seconds
        )
        audit_record(
            kind="config",
            action="connection.updated",
            subject=connection.slug,
            data={"kind": kind, "base_url": base_url, "api_key_secret": api_key},
        )
        connection.refresh_from_db()
        if bind_key and secret is not None:
            secret_bind_connection(secret=secret, connection=connection)
    return connection


class ConnectionInUse(ValueError):
    """Agents still use the connection: it cannot be deleted."""


def connection_delete(*, connection: ProviderConnection) -> None:
    """Delete a connection and its key bindings (not the secret), audited as
    ``connection.deleted``. Raises ``ConnectionInUse`` while any agent names it (agents keep
    working only through a connection; re-point or archive them first)."""
    with transaction.atomic():
        used = list(connection.agents.values_list("slug", flat=True)[:5])
        if used:
            raise ConnectionInUse(
                f"agents use connection {connection.slug!r} ({', '.join(used)}); "
                "point them at another connection first"
            )
        audit_record(
            kind="config",
            action="connection.deleted",
            subject=connection.slug,
            data={"kind": connection.kind, "base_url": connection.base_url},
        )
        connection.delete()
