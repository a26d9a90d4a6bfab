"""User-written regular expressions (PII patterns, content rules), matched with a time limit.

A pattern a designer types may backtrack catastrophically (``(a|aa)+$`` against a long run of
``a``); with the standard library that would hold a worker until the step's hard time limit.
These are compiled by the ``regex`` module and every match is bounded by ``MATCH_SECONDS``;
running out of time raises ``PatternTimeout``, which the callers treat as failing closed.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache

import regex

#: Time allowed for one pattern over one text.
MATCH_SECONDS = 0.25


class PatternTimeout(Exception):
    def __init__(self, source: str) -> None:
        super().__init__(f"the pattern {source!r} took longer than {MATCH_SECONDS:g}s to match")
        self.source = source


def compile_error(source: str) -> str | None:
    """Why ``source`` is not a usable pattern, or None."""
    try:
        _compiled(source)
    except regex.error as exc:
        return f"not a valid regex: {exc}"
    return None


@lru_cache(maxsize=256)
def _compiled(source: str) -> regex.Pattern[str]:
    return regex.compile(source)


def search(source: str, text: str) -> bool:
    """Whether ``source`` matches anywhere in ``text``."""
    try:
        return _compiled(source).search(text, timeout=MATCH_SECONDS) is not None
    except TimeoutError as exc:
        raise PatternTimeout(source) from exc


def spans(source: str, text: str) -> Iterator[tuple[int, int]]:
    """``(start, end)`` of every non-empty match of ``source`` in ``text``."""
    try:
        found = [m.span() for m in _compiled(source).finditer(text, timeout=MATCH_SECONDS)]
    except TimeoutError as exc:
        raise PatternTimeout(source) from exc
    yield from ((start, end) for start, end in found if end > start)
