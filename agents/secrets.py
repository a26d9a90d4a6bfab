"""Secrets: credentials encrypted at rest with Fernet, readable only at the moment of use.

Keys come from ``CONTROLROOM_FERNET_KEYS`` (comma-separated; the first encrypts, every one
decrypts, so a new key can go first while old rows stay readable until ``secrets_rotate``),
else from the file ``<CONTROLROOM_DATA_DIR>/fernet_key`` that `make run` writes. Without
either, the first use fails loudly (``SecretsNotConfigured``); dev and test settings create the
file instead. Nothing here runs at import.

Write-only: ``secret_reveal`` is the only way plaintext leaves the database, and every value it
or ``secret_set`` handles is handed to ``agents.redaction`` so that it is scrubbed from errors,
outputs and logs (``redact``) from then on.
"""

from __future__ import annotations

import os
import re
import tempfile
from functools import lru_cache
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.utils import timezone

from agents import redaction
from agents.audit import audit_record
from agents.models import Secret
from agents.redaction import redact, redact_value

ROTATE_BATCH = 100
NAME_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,100}$")
MAX_VALUE_CHARS = 64_000


class SecretsNotConfigured(ImproperlyConfigured):
    """No Fernet key is configured, or a configured key is unusable."""


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
    """A name or value that cannot be stored."""


# --- keys ---------------------------------------------------------------------------------------


def keyring() -> MultiFernet:
    """The configured keys, primary first. Raises ``SecretsNotConfigured`` when there are none
    (in production) or the key file holds something that is not a Fernet key."""
    config = settings.CONTROLROOM
    keys = tuple(config.get("FERNET_KEYS") or ())
    if not keys:
        keys = (_file_key(Path(config["FERNET_KEY_FILE"]), bool(config.get("FERNET_KEY_CREATE"))),)
    return _multi_fernet(keys)


@lru_cache(maxsize=8)
def _multi_fernet(keys: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([Fernet(key.encode("ascii")) for key in keys])


_file_keys: dict[Path, str] = {}


def _file_key(path: Path, create: bool) -> str:
    """The key in ``path``, made first when ``create`` allows it. Cached per process: the file
    is written once and never replaced (rows encrypted with it must stay readable)."""
    if path in _file_keys:
        return _file_keys[path]
    if not path.exists():
        if not create:
            raise SecretsNotConfigured(
                "no Fernet key: set CONTROLROOM_FERNET_KEYS (comma-separated, the first "
                f"encrypts) or create {path} (`make run` does); secrets cannot be stored or read"
            )
        _write_key_once(path)
    key = path.read_text().strip()
    try:
        Fernet(key.encode("ascii"))
    except (ValueError, UnicodeEncodeError) as exc:
        raise SecretsNotConfigured(f"{path} does not hold a Fernet key") from exc
    _file_keys[path] = key
    return key


def _write_key_once(path: Path) -> None:
    # Written whole to a temporary file, then linked into place: a concurrent process either
    # wins the link or finds the complete file, never a half-written one.
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".fernet_key.")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(Fernet.generate_key().decode() + "\n")
        os.link(temporary, path)
    except FileExistsError:
        pass
    finally:
        os.unlink(temporary)


# --- the secrets --------------------------------------------------------------------------------


def secret_set(*, name: str, value: str, description: str = "") -> Secret:
    """Store ``value`` under ``name``, encrypted with the primary key, replacing any earlier
    value. Raises ``SecretInvalid`` for a bad name, an empty or oversized value or description.
    From now on ``redact`` scrubs the value in this process (in others within
    ``redaction.CACHE_SECONDS``)."""
    if not NAME_PATTERN.match(name):
        raise SecretInvalid("a secret name is 1-100 letters, digits, '-' or '_'")
    if not isinstance(value, str) or not value:
        raise SecretInvalid(f"secret {name!r} needs a non-empty text value")
    if len(value) > MAX_VALUE_CHARS:
        raise SecretInvalid(f"secret {name!r} is longer than {MAX_VALUE_CHARS} characters")
    if len(description) > 200:
        raise SecretInvalid("a secret's description is at most 200 characters")
    ciphertext = keyring().encrypt(value.encode("utf-8"))
    with transaction.atomic():
        secret, created = Secret.objects.update_or_create(
            name=name,
            defaults={"ciphertext": ciphertext, "description": description, "rotated_at": None},
        )
        # The name only: the value never reaches the audit log.
        audit_record(
            kind="config", action="secret.created" if created else "secret.replaced", subject=name
        )
    redaction.remember(value)
    return secret


def secret_reveal(name: str) -> str:
    """The plaintext of secret ``name``, for the moment of use (a provider call, a header).

    The only way plaintext leaves the database; never store, log or return what it gives.
    Raises ``SecretMissing`` if there is no such secret, ``SecretUnreadable`` if no configured
    key opens it, ``SecretsNotConfigured`` if there is no key at all.
    """
    ciphertext = Secret.objects.filter(name=name).values_list("ciphertext", flat=True).first()
    if ciphertext is None:
        raise SecretMissing(name)
    try:
        value = keyring().decrypt(bytes(ciphertext)).decode("utf-8")
    except InvalidToken:
        raise SecretUnreadable(name) from None
    redaction.remember(value)
    return value


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


def stored_values() -> list[str]:
    """Every stored secret's plaintext that a configured key opens — for ``agents.redaction``
    only, which holds them briefly to scrub text. Rows no key opens are left out."""
    if not Secret.objects.exists():
        return []
    fernet = keyring()
    values = []
    for ciphertext in Secret.objects.values_list("ciphertext", flat=True):
        try:
            values.append(fernet.decrypt(bytes(ciphertext)).decode("utf-8"))
        except InvalidToken:
            continue
    return values


__all__ = [
    "SecretInvalid",
    "SecretMissing",
    "SecretUnreadable",
    "SecretsNotConfigured",
    "keyring",
    "redact",
    "redact_value",
    "secret_delete",
    "secret_reveal",
    "secret_set",
    "secrets_rotate",
    "stored_values",
]
