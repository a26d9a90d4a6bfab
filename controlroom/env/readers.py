"""Reading one environment variable as a typed value, and ``EnvError`` for a bad one.

Owns the readers every block of settings is built from (``_str``, ``_bool``, ``_float``,
``_positive``, ``_int``, ``_list``, ``_fernet_keys``, ``_http_url``): an unset or empty
variable gives the default, anything that does not parse raises ``EnvError`` naming the
variable (never echoing a secret).
"""

from __future__ import annotations

import base64
import binascii
import os
from urllib.parse import urlparse


class EnvError(ValueError):
    """An environment variable holds a value we cannot use."""


def _str(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return value if value not in (None, "") else default


def _bool(name: str, default: bool) -> bool:
    raw = _str(name)
    if raw is None:
        return default
    lowered = raw.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise EnvError(f"{name} must be a boolean (1/0, true/false), got {raw!r}")


def _float(name: str, default: float) -> float:
    raw = _str(name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError as exc:
        raise EnvError(f"{name} must be a number, got {raw!r}") from exc
    if value < 0:
        raise EnvError(f"{name} must not be negative, got {raw!r}")
    return value


def _int(name: str, default: int, *, minimum: int) -> int:
    raw = _str(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise EnvError(f"{name} must be a whole number, got {raw!r}") from exc
    if value < minimum:
        raise EnvError(f"{name} must be at least {minimum}, got {raw!r}")
    return value


def _fernet_keys(name: str) -> tuple[str, ...]:
    """Comma-separated Fernet keys (url-safe base64 of 32 bytes), the primary first.

    Only the shape is checked here; the keys themselves are never echoed in an error.
    """
    keys = tuple(_list(name, []))
    for position, key in enumerate(keys, start=1):
        try:
            decoded = base64.urlsafe_b64decode(key.encode("ascii"))
        except (binascii.Error, UnicodeEncodeError, ValueError):
            decoded = b""
        if len(decoded) != 32:
            raise EnvError(
                f"{name}: key {position} is not a Fernet key (url-safe base64 of 32 bytes; "
                "make one with `python -c 'from cryptography.fernet import Fernet; "
                "print(Fernet.generate_key().decode())'`)"
            )
    return keys


def _list(name: str, default: list[str]) -> list[str]:
    raw = _str(name)
    if raw is None:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


def _positive(name: str, default: float) -> float:
    value = _float(name, default)
    if value <= 0:
        raise EnvError(f"{name} must be above zero")
    return value


def _http_url(name: str) -> str:
    """An optional http(s) URL (empty when unset); anything else is an error at start-up."""
    raw = (_str(name, "") or "").strip()
    if not raw:
        return ""
    parsed = urlparse(raw)
    if parsed.scheme not in {"http", "https"} or not parsed.netloc:
        raise EnvError(f"{name} must be an http(s) URL")  # the value may hold a secret token
    return raw
