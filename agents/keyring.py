"""The Fernet keyring of the secrets store, and the one bulk read of stored values.

Below ``agents.secrets`` (which stores, binds and reveals secrets, and audits that) and below
``agents.redaction`` (which loads ``stored_values`` to scrub text): neither the audit log nor
redaction depends on the secrets module, so ``audit → redaction → keyring`` has no way back.

Keys come from ``CONTROLROOM_FERNET_KEYS`` (comma-separated; the first encrypts, every one
decrypts), else from the file ``<CONTROLROOM_DATA_DIR>/fernet_key`` that `make run` writes.
Nothing here runs at import.
"""

from __future__ import annotations

import os
import tempfile
from functools import lru_cache
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from agents.models import Secret


class SecretsNotConfigured(ImproperlyConfigured):
    """No Fernet key is configured, or a configured key is unusable."""


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
