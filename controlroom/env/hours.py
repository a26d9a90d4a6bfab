"""The working-hours block: when meetings may be proposed (``agents/scheduling.py``).

Owns ``WorkingHours`` and the reading of ``CONTROLROOM_WORKING_TIME_ZONE``,
``CONTROLROOM_WORKING_DAYS``, ``CONTROLROOM_WORKING_HOURS`` and ``CONTROLROOM_SLOT_MINUTES``.
"""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass
from datetime import time

from controlroom.env.readers import EnvError, _int, _str

_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class WorkingHours:
    """When meetings may be proposed: weekdays (0 = Monday), a time window, in ``time_zone``."""

    time_zone: str = "UTC"
    weekdays: tuple[int, ...] = (0, 1, 2, 3, 4)
    start: time = time(9, 0)
    end: time = time(17, 0)
    slot_minutes: int = 30


def _weekdays(raw: str) -> tuple[int, ...]:
    """``mon-fri`` or ``mon,wed,fri`` (ranges and lists may mix) into sorted weekday numbers."""
    days: set[int] = set()
    for part in raw.lower().split(","):
        first, _, last = part.strip().partition("-")
        if first not in _WEEKDAYS or (last and last not in _WEEKDAYS):
            raise EnvError(
                f"CONTROLROOM_WORKING_DAYS must look like mon-fri or mon,wed; got {raw!r}"
            )
        start, stop = _WEEKDAYS.index(first), _WEEKDAYS.index(last or first)
        if stop < start:
            raise EnvError(f"CONTROLROOM_WORKING_DAYS range {part.strip()!r} runs backwards")
        days.update(range(start, stop + 1))
    return tuple(sorted(days))


def _clock(raw: str, text: str) -> time:
    try:
        return time.fromisoformat(text.strip())
    except ValueError as exc:
        raise EnvError(
            f"CONTROLROOM_WORKING_HOURS must look like 09:00-17:00, got {raw!r}"
        ) from exc


def _working_hours() -> WorkingHours:
    zone = _str("CONTROLROOM_WORKING_TIME_ZONE", "UTC") or "UTC"
    try:
        zoneinfo.ZoneInfo(zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise EnvError(f"CONTROLROOM_WORKING_TIME_ZONE is not a known time zone: {zone!r}") from exc
    raw_hours = _str("CONTROLROOM_WORKING_HOURS", "09:00-17:00") or ""
    start_text, dash, end_text = raw_hours.partition("-")
    if not dash:
        raise EnvError(f"CONTROLROOM_WORKING_HOURS must look like 09:00-17:00, got {raw_hours!r}")
    hours = WorkingHours(
        time_zone=zone,
        weekdays=_weekdays(_str("CONTROLROOM_WORKING_DAYS", "mon-fri") or ""),
        start=_clock(raw_hours, start_text),
        end=_clock(raw_hours, end_text),
        slot_minutes=_int("CONTROLROOM_SLOT_MINUTES", 30, minimum=5),
    )
    if hours.end <= hours.start:
        raise EnvError(f"CONTROLROOM_WORKING_HOURS must end after it starts, got {raw_hours!r}")
    return hours
