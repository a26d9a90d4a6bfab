"""Secrets: credentials encrypted at rest with Fernet, readable only at the moment of use.

The keys are ``agents.keyring``'s (``CONTROLROOM_FERNET_KEYS``, the first encrypting and every
one decrypting, so a new key can go first while old rows stay readable until
``secrets_rotate``; else the data directory's key file). Without any, the first use fails
loudly (``SecretsNotConfigured``). Nothing here runs at import.

Write-only: ``secret_reveal`` and ``secret_reveal_to`` are the only ways plaintext leaves the
database, and every value they or ``secret_set`` handle is handed to ``agents.redaction`` so
that it is scrubbed from errors, outputs and logs (``redact``, in every encoding it knows) from
then on.

Bound to its use: a value that leaves the process goes through ``secret_reveal_to``, which
opens it only for a destination the secret allows — a host matching one of its
``allowed_hosts`` patterns, or a provider connection it is bound to (``SecretBinding``, pinned
to the connection's kind and base URL at binding time). A new secret allows nothing. Only
admins change a binding (``secret_bind``, ``secret_set`` with a binding,
``secret_bind_connection``); the adapters check the role, these functions do not.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass

from cryptography.fernet import InvalidToken
from django.db import transaction
from django.utils import timezone

from agents import redaction
from agents.audit import audit_record
from agents.egress import EgressRefused, Target, target_parse
from agents.keyring import SecretsNotConfigured, keyring, stored_values
from agents.models import ProviderConnection, Secret, SecretBinding
from agents.redaction import redact, redact_value

ROTATE_BATCH = 100
NAME_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,100}$")
MAX_VALUE_CHARS = 64_000


class SecretMissing(LookupError):
    """No secret of that name is stored."""

    def __init__(self, name: str) -> None:
        super().__init__(f"secret {name!r} is not set")
        self.name = name


class SecretUnreadable(RuntimeError):
    """A stored secret was encrypted with a key that is no longer configured."""

    def __init__(self, name: str) -> None:
        super().__init__(
            f"secret {name!r} cannot be decrypted with any key in CONTROLROOM_FERNET_KEYS "
            "(or the key file): put the key it was written with back in the list"
        )
        self.name = name


class SecretInvalid(ValueError):
    """A name, value or binding that cannot be stored."""


class SecretNotAllowed(PermissionError):
    """The secret may not be sent where it was about to go. A domain refusal: retrying cannot
    help, only an admin widening the secret's binding can."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(message)
        self.name = name


# --- the secrets --------------------------------------------------------------------------------


def secret_set(
    *,
    name: str,
    value: str,
    description: str = "",
    allowed_hosts: Iterable[str] | None = None,
    connections: Iterable[str] | None = None,
) -> Secret:
    """Store ``value`` under ``name``, encrypted with the primary key, replacing any earlier
    value. ``allowed_hosts`` / ``connections`` replace the binding (see ``secret_bind``);
    ``None`` keeps it (a new secret allows nothing). Raises ``SecretInvalid`` for a bad name, an
    empty or oversized value or description, or a bad binding. From now on ``redact`` scrubs
    the value in this process (in others within ``redaction.CACHE_SECONDS``)."""
    if not NAME_PATTERN.match(name):
        raise SecretInvalid("a secret name is 1-100 letters, digits, '-' or '_'")
    if not isinstance(value, str) or not value:
        raise SecretInvalid(f"secret {name!r} needs a non-empty text value")
    if len(value) > MAX_VALUE_CHARS:
        raise SecretInvalid(f"secret {name!r} is longer than {MAX_VALUE_CHARS} characters")
    if len(description) > 200:
        raise SecretInvalid("a secret's description is at most 200 characters")
    patterns = None if allowed_hosts is None else host_patterns_clean(allowed_hosts)
    bound = None if connections is None else _connections(connections)
    ciphertext = keyring().encrypt(value.encode("utf-8"))
    with transaction.atomic():
        defaults: dict[str, object] = {
            "ciphertext": ciphertext,
            "description": description,
            "rotated_at": None,
        }
        if patterns is not None:
            defaults["allowed_hosts"] = patterns
        secret, created = Secret.objects.update_or_create(name=name, defaults=defaults)
        if bound is not None:
            _bindings_replace(secret, bound)
        # The name only: the value never reaches the audit log.
        audit_record(
            kind="config",
            action="secret.created" if created else "secret.replaced",
            subject=name,
            data=_binding_data(secret) if patterns is not None or bound is not None else None,
        )
    redaction.remember(value)
    return secret


def secret_reveal(name: str) -> str:
    """The plaintext of secret ``name``, for a use inside this process (checking a webhook's
    signature). Anything sent elsewhere — a header, a provider key — goes through
    ``secret_reveal_to``, which checks the secret's binding first.

    Never store, log or return what it gives.
    Raises ``SecretMissing`` if there is no such secret, ``SecretUnreadable`` if no configured
    key opens it, ``SecretsNotConfigured`` if there is no key at all.
    """
    ciphertext = Secret.objects.filter(name=name).values_list("ciphertext", flat=True).first()
    if ciphertext is None:
        raise SecretMissing(name)
    return _decrypt(name, bytes(ciphertext))


def _decrypt(name: str, ciphertext: bytes) -> str:
    try:
        value = keyring().decrypt(ciphertext).decode("utf-8")
    except InvalidToken:
        raise SecretUnreadable(name) from None
    redaction.remember(value)
    return value


# --- where a secret may go ----------------------------------------------------------------------

MAX_HOST_PATTERNS = 50
_HOST_PATTERN = re.compile(
    r"^(?P<wild>\*\.)?(?P<host>[a-z0-9_](?:[a-z0-9_-]{0,62})(?:\.[a-z0-9_][a-z0-9_-]{0,62})*)"
    r"(?::(?P<port>[0-9]{1,5}))?$"
)
_IPV6_PATTERN = re.compile(r"^\[(?P<host>[0-9a-f:.]+)\](?::(?P<port>[0-9]{1,5}))?$")


@dataclass(frozen=True)
class HostPattern:
    """One ``allowed_hosts`` entry: ``host`` exactly, or (``wildcard``) any name ending in
    ``.host``, on ``port`` only when one is given."""

    host: str
    wildcard: bool = False
    port: int | None = None

    def matches(self, target: Target) -> bool:
        if self.port is not None and self.port != target.port:
            return False
        if self.wildcard:
            return target.literal is None and target.host.endswith("." + self.host)
        return target.host == self.host

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        shown = f"*.{host}" if self.wildcard else host
        return f"{shown}:{self.port}" if self.port is not None else shown


def host_pattern_parse(raw: str) -> HostPattern:
    """``api.example.com``, ``*.example.com``, ``10.0.0.5`` or ``[::1]``, each optionally with
    ``:port`` (without one, any port). Case and a trailing dot do not matter. A wildcard covers
    the names below its suffix (not the suffix itself) and needs a suffix of two labels or more
    (``*.com`` is refused); there is no allow-everything pattern. Raises ``SecretInvalid``."""
    text = raw.strip().lower() if isinstance(raw, str) else ""
    bracketed = _IPV6_PATTERN.match(text)
    match = bracketed or _HOST_PATTERN.match(text.removesuffix("."))
    if not text or len(text) > 260 or match is None:
        raise SecretInvalid(
            f"{raw!r} is not a host pattern: use host, *.domain or an address, "
            "optionally with :port"
        )
    port = int(match["port"]) if match["port"] else None
    if port is not None and not 0 < port < 65536:
        raise SecretInvalid(f"{raw!r}: the port must be from 1 to 65535")
    host = match["host"].removesuffix(".")
    wildcard = bool(match.groupdict().get("wild"))
    if bracketed:
        try:
            host = str(ipaddress.IPv6Address(host))
        except ValueError:
            raise SecretInvalid(f"{raw!r}: {host!r} is not an IPv6 address") from None
    elif wildcard and ("." not in host or host.rpartition(".")[2].isdigit()):
        raise SecretInvalid(f"{raw!r}: a wildcard needs a domain of two labels or more")
    return HostPattern(host=host, wildcard=wildcard, port=port)


def host_patterns_clean(patterns: Iterable[str]) -> list[str]:
    """``patterns`` normalised (``str(HostPattern)``), duplicates dropped, order kept. Raises
    ``SecretInvalid`` naming the first bad one, or for more than ``MAX_HOST_PATTERNS``."""
    cleaned = list(dict.fromkeys(str(host_pattern_parse(raw)) for raw in patterns))
    if len(cleaned) > MAX_HOST_PATTERNS:
        raise SecretInvalid(f"a secret allows at most {MAX_HOST_PATTERNS} host patterns")
    return cleaned


def _connections(slugs: Iterable[str]) -> list[ProviderConnection]:
    wanted = list(dict.fromkeys(str(slug) for slug in slugs))
    found = {c.slug: c for c in ProviderConnection.objects.filter(slug__in=wanted)}
    missing = [slug for slug in wanted if slug not in found]
    if missing:
        raise SecretInvalid(f"there is no provider connection {missing[0]!r}")
    return [found[slug] for slug in wanted]


def _bindings_replace(secret: Secret, connections: list[ProviderConnection]) -> None:
    SecretBinding.objects.filter(secret=secret).exclude(connection__in=connections).delete()
    for connection in connections:
        _binding_pin(secret, connection)


def _binding_pin(secret: Secret, connection: ProviderConnection) -> None:
    SecretBinding.objects.update_or_create(
        secret=secret,
        connection=connection,
        defaults={"kind": connection.kind, "base_url": connection.base_url},
    )


def _binding_data(secret: Secret) -> dict[str, object]:
    slugs = SecretBinding.objects.filter(secret=secret).values_list("connection__slug", flat=True)
    return {"allowed_hosts": list(secret.allowed_hosts or []), "connections": sorted(slugs)}


def secret_bind(
    *,
    name: str,
    allowed_hosts: Iterable[str] | None = None,
    connections: Iterable[str] | None = None,
    description: str | None = None,
) -> Secret:
    """Set where secret ``name`` may be sent, keeping its value: ``allowed_hosts`` (host
    patterns, see ``host_pattern_parse``) and/or ``connections`` (provider connection slugs,
    each pinned to the connection's current kind and base URL). Each given list replaces the
    current one (``[]`` empties it); ``None`` keeps it; so does ``description``. Admins only —
    the caller checks. Audit-recorded (``secret.bound``). Raises ``SecretMissing`` or
    ``SecretInvalid`` (nothing changed then)."""
    patterns = None if allowed_hosts is None else host_patterns_clean(allowed_hosts)
    bound = None if connections is None else _connections(connections)
    if description is not None and len(description) > 200:
        raise SecretInvalid("a secret's description is at most 200 characters")
    with transaction.atomic():
        secret = Secret.objects.select_for_update().defer("ciphertext").filter(name=name).first()
        if secret is None:
            raise SecretMissing(name)
        changed = []
        if patterns is not None:
            secret.allowed_hosts, changed = patterns, ["allowed_hosts"]
        if description is not None:
            secret.description = description
            changed.append("description")
        if changed:
            secret.save(update_fields=[*changed, "updated_at"])
        if bound is not None:
            _bindings_replace(secret, bound)
        audit_record(kind="config", action="secret.bound", subject=name, data=_binding_data(secret))
    return secret


def secret_bind_connection(*, secret: Secret, connection: ProviderConnection) -> None:
    """Bind ``secret`` to ``connection`` as it is now (re-pinning an older binding): what an
    admin saving a connection with that key means. Admins only — the caller checks.
    Audit-recorded."""
    with transaction.atomic():
        _binding_pin(secret, connection)
        audit_record(
            kind="config",
            action="secret.bound",
            subject=secret.name,
            data={"connection": connection.slug, "base_url": connection.base_url},
        )


def secret_reveal_to(*, name: str, url: str, connection: ProviderConnection | None = None) -> str:
    """The plaintext of secret ``name`` for sending to ``url`` — only if the secret allows it:
    ``url``'s host (and port) matches one of its ``allowed_hosts``, or ``connection`` is given
    and the secret is bound to it as it is now (same kind and base URL as when bound).

    The check comes before decryption. Raises ``SecretNotAllowed`` (its message names the
    secret and the host, and says an admin must allow it), ``SecretMissing``,
    ``SecretUnreadable`` or ``SecretsNotConfigured``. Never store, log or return the value.
    """
    secret = Secret.objects.filter(name=name).first()
    if secret is None:
        raise SecretMissing(name)
    try:
        target = target_parse(url)
    except EgressRefused as exc:
        raise SecretNotAllowed(name, f"secret {name!r} may not be sent to {url!r}: {exc}") from None
    if not _allows(secret, target, connection):
        raise SecretNotAllowed(name, _refusal(name, target, connection))
    return _decrypt(name, bytes(secret.ciphertext))


def _allows(secret: Secret, target: Target, connection: ProviderConnection | None) -> bool:
    patterns = [host_pattern_parse(raw) for raw in secret.allowed_hosts or []]
    if any(pattern.matches(target) for pattern in patterns):
        return True
    if connection is None:
        return False
    binding = SecretBinding.objects.filter(secret=secret, connection=connection).first()
    return binding is not None and binding.matches(connection)


def _refusal(name: str, target: Target, connection: ProviderConnection | None) -> str:
    where = (
        f"provider connection {connection.slug!r} at {target.authority}"
        if connection
        else (target.authority)
    )
    return (
        f"secret {name!r} may not be sent to {where}: it is not allowed for host "
        f"{target.authority}. An admin must allow that host for the secret (Secrets page, "
        "allowed hosts)"
        + (" or bind the secret to the connection as it is now" if connection else "")
    )


def secret_delete(*, name: str) -> None:
    """Delete secret ``name``; deleting a missing one is a no-op. Raises Django's
    ``ProtectedError`` while a provider connection still uses it."""
    with transaction.atomic():
        deleted, _ = Secret.objects.filter(name=name).delete()
        if deleted:
            audit_record(kind="config", action="secret.deleted", subject=name)
    redaction.invalidate()


def secrets_rotate() -> int:
    """Re-encrypt every secret with the current primary key; returns how many rows it did.

    Batches of ``ROTATE_BATCH`` rows, each under ``SELECT … FOR UPDATE`` in its own transaction,
    so a concurrent ``secret_set`` of the same row waits instead of being overwritten with the
    old value. Safe to run again (a finished or interrupted rotation just re-encrypts once more).
    Raises ``SecretUnreadable`` on a row no configured key opens, leaving that batch untouched.
    """
    fernet = keyring()
    done = 0
    last_id = 0
    while True:
        with transaction.atomic():
            rows = list(
                Secret.objects.select_for_update()
                .filter(id__gt=last_id)
                .order_by("id")
                .only("id", "name", "ciphertext")[:ROTATE_BATCH]
            )
            if not rows:
                audit_record(kind="config", action="secrets.rotated", data={"secrets": done})
                return done
            now = timezone.now()
            for row in rows:
                try:
                    row.ciphertext = fernet.rotate(bytes(row.ciphertext))
                except InvalidToken:
                    raise SecretUnreadable(row.name) from None
                row.rotated_at = now
            Secret.objects.bulk_update(rows, ["ciphertext", "rotated_at"])
        done += len(rows)
        last_id = rows[-1].id


__all__ = [
    "HostPattern",
    "SecretInvalid",
    "SecretMissing",
    "SecretNotAllowed",
    "SecretUnreadable",
    "SecretsNotConfigured",
    "host_pattern_parse",
    "host_patterns_clean",
    "keyring",
    "redact",
    "redact_value",
    "secret_bind",
    "secret_bind_connection",
    "secret_delete",
    "secret_reveal",
    "secret_reveal_to",
    "secret_set",
    "secrets_rotate",
    "stored_values",
]
