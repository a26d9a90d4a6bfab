"""Scrubbing secrets out of text before it is stored, logged or sent: ``redact``.

Two nets: every value stored as a ``Secret`` (held decrypted in this process for at most
``CACHE_SECONDS``, plus every value this process has set or revealed since, at once), and the
obvious shapes of credentials that were never stored (``sk-…`` API keys, ``Bearer …`` tokens,
``Authorization:`` / ``api_key=`` values, GitHub, Slack, AWS and Google keys). Each match
becomes ``[redacted]``.

A stored value is matched in every encoding a server could echo it in (``_variants``): as is,
JSON-escaped, percent-encoded (``quote`` with and without ``/`` safe, ``quote_plus``, every
byte escaped), hex (lower and upper case of its UTF-8 bytes) and base64 (standard and URL-safe
alphabets, padded or not) — base64 at each of the three byte alignments it can have inside a
longer encoded string (``base64("Bearer " + value)`` holds no ``base64(value)``; it holds the
alignment-1 core), minus the edge characters that depend on the neighbouring bytes. Encoded
forms shorter than ``MIN_ENCODED_CHARS`` are not matched (they would shred ordinary text);
real credentials are far longer. An encoding outside this list (say, a server escaping only
some characters) is not recognised: the defence against that is the binding, which keeps a
secret away from hosts an admin did not trust (``agents.secrets``).

All needles of all values are compiled once per change of the value set into one regex shaped
as a prefix tree (``_trie_pattern``), so ``redact`` is one linear pass whatever the number of
secrets (measured in ``tests/security/test_secret_binding.py``).

This module is loaded by the LOGGING configuration before Django's apps are ready, so it
imports no model at import time; ``agents.keyring`` is imported when the values are loaded.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import re
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from typing import Any
from urllib.parse import quote, quote_plus

REDACTED = "[redacted]"
CACHE_SECONDS = 30.0
# Shorter values are not scrubbed by value: replacing every "abc" would shred ordinary text.
MIN_VALUE_CHARS = 4
MIN_ENCODED_CHARS = 8
# Deeper shared prefixes than this fall back to a plain alternation (bounded recursion).
_TRIE_DEPTH = 64

# A credential-looking value after ``Authorization:`` / ``api_key=``: token characters only, so
# ``"api_key": {"type": "string"}`` in a schema or ``authorization failed`` is left alone.
_HEADER_VALUE = r"[A-Za-z0-9._~+/=:@!$*-]{4,}"
SHAPES: tuple[tuple[re.Pattern[str], str], ...] = (
    (
        re.compile(
            r"(?P<head>\b(?:proxy-)?authorization[\"']?\s*[:=]\s*[\"']?"
            r"(?:(?:bearer|basic|token|digest)\s+)?)" + _HEADER_VALUE,
            re.IGNORECASE,
        ),
        rf"\g<head>{REDACTED}",
    ),
    (
        re.compile(
            r"(?P<head>\b(?:x-)?api[-_]?key[\"']?\s*[:=]\s*[\"']?)" + _HEADER_VALUE, re.IGNORECASE
        ),
        rf"\g<head>{REDACTED}",
    ),
    (
        re.compile(r"(?P<head>\bbearer\s+)[A-Za-z0-9._~+/-]{8,}=*", re.IGNORECASE),
        rf"\g<head>{REDACTED}",
    ),
    (re.compile(r"\bsk-[A-Za-z0-9_-]{16,}"), REDACTED),
    (re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{30,})"), REDACTED),
    (re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}"), REDACTED),
    (re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"), REDACTED),
    (re.compile(r"\bAIza[0-9A-Za-z_-]{35}"), REDACTED),
)


class _Known:
    """The secret values this process knows, compiled into one alternation: those loaded from
    the database plus those it set or revealed itself (kept for the life of the process, so a
    value in use is covered even before its row is committed or after it is replaced)."""

    def __init__(self) -> None:
        self.loaded: frozenset[str] = frozenset()
        self.remembered: frozenset[str] = frozenset()
        self.pattern: re.Pattern[str] | None = None
        self.loaded_at = float("-inf")

    def update(self, *, loaded: Iterable[str] | None = None, remembered: str | None = None) -> None:
        if loaded is not None:
            self.loaded = frozenset(loaded)
        if remembered is not None:
            self.remembered |= {remembered}
        needles = {needle for value in self.loaded | self.remembered for needle in _variants(value)}
        self.pattern = _trie_pattern(needles)


_known = _Known()
_lock = threading.Lock()
_local = threading.local()


def _variants(value: str) -> Iterator[str]:
    """``value`` as it may appear in text: raw, escaped inside JSON, percent-encoded, hex,
    base64 (every alignment, both alphabets). Too-short forms are left out."""
    if len(value) < MIN_VALUE_CHARS:
        return
    yield value
    yield json.dumps(value)[1:-1]
    yield json.dumps(value, ensure_ascii=False)[1:-1]
    raw = value.encode("utf-8")
    encoded = [
        quote(value, safe=""),
        quote(value),
        quote_plus(value),
        "".join(f"%{byte:02X}" for byte in raw),  # every byte escaped, as some encoders do
        "".join(f"%{byte:02x}" for byte in raw),
        raw.hex(),
        raw.hex().upper(),
        *_base64_cores(raw),
    ]
    yield from (form for form in encoded if len(form) >= MIN_ENCODED_CHARS)


def _base64_cores(raw: bytes) -> Iterator[str]:
    """The base64 characters that depend on ``raw`` alone, for ``raw`` starting at byte 0, 1
    or 2 of a 3-byte group; standard and URL-safe. Padding is never part of a core, so padded
    and unpadded encodings both contain it."""
    for offset in range(3):
        encoded = base64.b64encode(bytes(offset) + raw).decode("ascii").rstrip("=")
        start = -(-8 * offset // 6)  # the first character holding no prefix bit
        end = 8 * (offset + len(raw)) // 6  # past the last holding no following bit
        core = encoded[start:end]
        yield core
        yield core.translate(_URLSAFE)


_URLSAFE = str.maketrans("+/", "-_")


def _trie_pattern(needles: Iterable[str]) -> re.Pattern[str] | None:
    """One regex matching any of ``needles``, longest first at each position, built as a
    prefix tree so that matching does not try every needle at every character."""
    ordered = sorted(set(needles))
    if not ordered:
        return None
    return re.compile(_trie_branch(ordered, 0))


def _trie_branch(words: list[str], depth: int) -> str:
    """The pattern for sorted ``words`` (all sharing their first ``depth`` characters),
    matching what follows that prefix."""
    if len(words) == 1:
        return re.escape(words[0][depth:])
    if depth >= _TRIE_DEPTH:
        rests = sorted((word[depth:] for word in words), key=len, reverse=True)
        return "(?:" + "|".join(map(re.escape, rests)) + ")"
    ends_here = words[0] == words[0][:depth]  # sorted: the prefix itself comes first
    rest = words[1:] if ends_here else words
    branches = []
    start = 0
    while start < len(rest):
        char = rest[start][depth]
        stop = start
        while stop < len(rest) and rest[stop][depth] == char:
            stop += 1
        branches.append(re.escape(char) + _trie_branch(rest[start:stop], depth + 1))
        start = stop
    body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
    return f"(?:{body})?" if ends_here else body


def redact(text: str) -> str:
    """``text`` with every known secret value and credential shape replaced by ``[redacted]``.

    Cheap (one regex pass per net); reads the database at most once per ``CACHE_SECONDS`` per
    process, never inside an event loop, and never fails: if the values cannot be loaded, the
    last known ones and the shapes still apply.
    """
    if not text:
        return text
    pattern = _pattern()
    if pattern is not None:
        text = pattern.sub(REDACTED, text)
    for shape, replacement in SHAPES:
        text = shape.sub(replacement, text)
    return text


def redact_value(value: Any) -> Any:
    """``redact`` applied to every string inside JSON-like data (dict keys included)."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {redact_value(key): redact_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [redact_value(item) for item in value]
    return value


def redact_mapping(value: Mapping[str, Any]) -> dict[str, Any]:
    """``redact_value`` of a JSON object: each key and each value redacted, as a new dict."""
    return {redact(key): redact_value(item) for key, item in value.items()}


def remember(value: str) -> None:
    """Scrub ``value`` from now on in this process (called by ``agents.secrets`` whenever a
    value is set or revealed, so what a worker just used is covered without waiting)."""
    with _lock:
        if value not in _known.remembered:
            _known.update(remembered=value)


def invalidate() -> None:
    """Reload the stored values at the next ``redact`` (after a delete or a key change)."""
    with _lock:
        _known.loaded_at = float("-inf")


def _pattern() -> re.Pattern[str] | None:
    if time.monotonic() - _known.loaded_at > CACHE_SECONDS and _may_load():
        _load()
    return _known.pattern


def _may_load() -> bool:
    from django.apps import apps

    if getattr(_local, "loading", False) or not apps.ready:
        return False  # a log line emitted while loading, or before Django is set up
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return True
    return False  # the ORM may not run in an event loop; the last known values serve


def _load() -> None:
    _local.loading = True
    try:
        from django.db import transaction

        from agents import keyring

        # A savepoint: a failed read must not break a transaction the caller has open.
        with transaction.atomic():
            values: list[str] | None = keyring.stored_values()
    except Exception:
        values = None  # keep the last known values; try again after CACHE_SECONDS
    finally:
        _local.loading = False
    with _lock:
        if values is not None:
            _known.update(loaded=values)
        _known.loaded_at = time.monotonic()


class RedactingFilter(logging.Filter):
    """A logging filter (installed on every handler in settings.LOGGING) that runs ``redact``
    over the message, the traceback and the stack of each record. It never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed call; the handler will report it as it always does
            return True
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True
