"""Finding personal data in text, replacing it with numbered placeholders, and putting the
values back: ``pii_redact`` and ``pii_restore``. Pure functions.

Kinds: ``email``; ``phone`` (``+`` and 7-15 digits, or 9-15 digits, not a date); ``card``
(13-19 digits that pass the Luhn check); ``iban`` (country, check digits, BBAN passing the
mod-97 check); and user-defined regexes named ``patterns[].name``. The same value gets the
same placeholder everywhere in one redaction (``[EMAIL_1]``), so the model can still refer to
it and the answer can be restored. ``pii_mask`` puts the placeholders back into a copy that is
about to be stored, so what a redaction kept from the model is not kept at rest either.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from agents.policies import patterns

logger = logging.getLogger(__name__)

EMAIL = re.compile(r"\b[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9.-]{1,253}\.[A-Za-z]{2,24}\b")
CARD = re.compile(r"\b\d(?:[ -]?\d){12,18}\b")
IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}\b")
PHONE = re.compile(r"(?<![\w+])\+?\d[\d ().-]{5,18}\d\b")
DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
DEFAULT_KINDS = ("email", "phone", "card", "iban")


def luhn_valid(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2 == 1:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def iban_valid(text: str) -> bool:
    compact = text.replace(" ", "")
    if not 15 <= len(compact) <= 34:
        return False
    moved = compact[4:] + compact[:4]
    number = "".join(str(int(char, 36)) for char in moved)
    return int(number) % 97 == 1


def _cards(text: str) -> Iterator[tuple[int, int]]:
    for match in CARD.finditer(text):
        digits = re.sub(r"\D", "", match.group())
        if 13 <= len(digits) <= 19 and luhn_valid(digits):
            yield match.span()


def _ibans(text: str) -> Iterator[tuple[int, int]]:
    for match in IBAN.finditer(text):
        if iban_valid(match.group()):
            yield match.span()


def _phones(text: str) -> Iterator[tuple[int, int]]:
    """International numbers (``+``) of 7-15 digits, or grouped national ones of 9-15; not
    dates."""
    for match in PHONE.finditer(text):
        found = match.group()
        digits = re.sub(r"\D", "", found)
        if DATE.fullmatch(found) or not 7 <= len(digits) <= 15:
            continue
        if found.startswith(("+", "(")) or len(digits) >= 9:
            yield match.span()


def _user_pattern(source: str) -> Any:
    """A designer's pattern, time-limited (``patterns.PatternTimeout`` past the limit)."""

    def find(text: str) -> Iterator[tuple[int, int]]:
        yield from patterns.spans(source, text)

    return find


def _regex(pattern: re.Pattern[str]) -> Any:
    def find(text: str) -> Iterator[tuple[int, int]]:
        for match in pattern.finditer(text):
            if match.end() > match.start():
                yield match.span()

    return find


def detectors(config: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """``(label, find)`` pairs for a pii policy config, in priority order (cards and IBANs
    before phone numbers, whose digit runs they contain)."""
    kinds = list(config.get("detect") or DEFAULT_KINDS)
    builtin = {
        "email": _regex(EMAIL),
        "card": _cards,
        "iban": _ibans,
        "phone": _phones,
    }
    found = [
        (kind.upper(), builtin[kind])
        for kind in ("email", "card", "iban", "phone")
        if kind in kinds
    ]
    for index, pattern in enumerate(config.get("patterns") or []):
        label = str(pattern.get("name") or f"pattern{index + 1}").upper()
        found.append((label, _user_pattern(pattern["regex"])))
    return found


def pii_find(text: str, config: Mapping[str, Any]) -> list[tuple[int, int, str]]:
    """Non-overlapping ``(start, end, label)`` spans of personal data, earliest first."""
    spans: list[tuple[int, int, str]] = []
    for label, find in detectors(config):
        try:
            found = list(find(text))
        except patterns.PatternTimeout as exc:
            # Fail closed: the whole text is one match, so nothing the pattern might have
            # caught leaves.
            logger.warning("%s; redacting the whole text", exc)
            return [(0, len(text), label)] if text else []
        for start, end in found:
            if not any(
                start < other_end and other_start < end for other_start, other_end, _ in spans
            ):
                spans.append((start, end, label))
    return sorted(spans)


def pii_redact(texts: Iterable[str], config: Mapping[str, Any]) -> tuple[list[str], dict[str, str]]:
    """Redact each of ``texts`` with one shared numbering: the same value gets the same
    placeholder in all of them. Returns the texts and the placeholder → value map."""
    values: dict[str, str] = {}
    by_value: dict[tuple[str, str], str] = {}
    counters: dict[str, int] = {}
    out: list[str] = []
    for text in texts:
        parts: list[str] = []
        cursor = 0
        for start, end, label in pii_find(text, config):
            value = text[start:end]
            placeholder = by_value.get((label, value))
            if placeholder is None:
                counters[label] = counters.get(label, 0) + 1
                placeholder = f"[{label}_{counters[label]}]"
                by_value[(label, value)] = placeholder
                values[placeholder] = value
            parts += [text[cursor:start], placeholder]
            cursor = end
        parts.append(text[cursor:])
        out.append("".join(parts))
    return out, values


def pii_restore(value: Any, values: Mapping[str, str]) -> Any:
    """Put the original values back into every string inside ``value`` (JSON-like data)."""
    if not values:
        return value
    if isinstance(value, str):
        pattern = re.compile(
            "|".join(re.escape(key) for key in sorted(values, key=len, reverse=True))
        )
        return pattern.sub(lambda match: values[match.group()], value)
    if isinstance(value, dict):
        return {key: pii_restore(item, values) for key, item in value.items()}
    if isinstance(value, list):
        return [pii_restore(item, values) for item in value]
    return value


def pii_mask(value: Any, placeholders: Mapping[str, str]) -> Any:
    """The inverse of ``pii_restore``: every original value in ``placeholders`` (value →
    placeholder) replaced by its placeholder in every string inside ``value`` (JSON-like
    data), so a stored copy holds what the model saw. Longer values first (a value inside
    another is not split). ``value`` itself when there is nothing to mask."""
    wanted = {original: placeholder for original, placeholder in placeholders.items() if original}
    if not wanted:
        return value
    pattern = re.compile("|".join(re.escape(key) for key in sorted(wanted, key=len, reverse=True)))
    return _mask(value, pattern, wanted)


def _mask(value: Any, pattern: re.Pattern[str], placeholder_of: Mapping[str, str]) -> Any:
    if isinstance(value, str):
        return pattern.sub(lambda match: placeholder_of[match.group()], value)
    if isinstance(value, dict):
        return {key: _mask(item, pattern, placeholder_of) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_mask(item, pattern, placeholder_of) for item in value]
    return value


def pii_kinds(text: str, config: Mapping[str, Any]) -> list[str]:
    """Which kinds of personal data ``text`` holds (labels, lower case)."""
    return sorted({label.lower() for _, _, label in pii_find(text, config)})


__all__ = [
    "iban_valid",
    "luhn_valid",
    "pii_find",
    "pii_kinds",
    "pii_mask",
    "pii_redact",
    "pii_restore",
]
