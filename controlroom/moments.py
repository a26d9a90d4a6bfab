"""Times from outside (API query strings, bodies, filters), made safe to store and compare.

ISO 8601 allows UTC offsets up to ±23:59; PostgreSQL's ``timestamptz`` input accepts ±15:59 at
most and fails the whole query for more (a 500, found by the API fuzz test). Every aware time
that comes in is converted to UTC here first: the same instant, an offset PostgreSQL takes.
"""

from __future__ import annotations

from datetime import UTC, datetime


class MomentError(ValueError):
    """A time that names no instant we can use: naive, or outside the calendar once in UTC."""


def utc_moment(value: datetime) -> datetime:
    """``value`` (aware) as the same instant in UTC. Raises ``MomentError`` for a naive time
    or one that leaves the calendar (year 1 to 9999) when moved to UTC."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise MomentError("needs a time zone (e.g. 2026-11-21T09:00:00Z)")
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise MomentError("is out of range (years 1 to 9999, in UTC)") from None
