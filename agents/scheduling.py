"""Meeting slots from the configured working hours (``CONTROLROOM_WORKING_*``).

Pure and deterministic: the same ``now``, hours and arguments give the same slots. There is no
calendar behind it yet, so every slot inside working hours counts as free.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings

from controlroom.env import WorkingHours

MAX_COUNT = 20
SEARCH_DAYS = 366


class SchedulingError(ValueError):
    """Arguments no working day can satisfy."""


@dataclass(frozen=True)
class Slot:
    start: datetime  # aware, in the working hours' time zone
    end: datetime


def working_hours() -> WorkingHours:
    hours = settings.CONTROLROOM.get("WORKING_HOURS")
    return hours if isinstance(hours, WorkingHours) else WorkingHours()


def slots_propose(
    *,
    now: datetime,
    count: int,
    duration_minutes: int | None = None,
    after: datetime | None = None,
    hours: WorkingHours | None = None,
) -> list[Slot]:
    """The first ``count`` slots starting at or after ``max(now, after)``.

    Slots start on the working day's grid (start of hours + n slot lengths), last
    ``duration_minutes`` (default: one slot length) and end by the end of working hours, on
    working weekdays. ``now`` and ``after`` must be aware. Raises ``SchedulingError`` when the
    duration does not fit in a working day.
    """
    hours = hours or working_hours()
    zone = ZoneInfo(hours.time_zone)
    duration = timedelta(minutes=duration_minutes or hours.slot_minutes)
    day_length = datetime.combine(date.min, hours.end) - datetime.combine(date.min, hours.start)
    if duration > day_length:
        raise SchedulingError(f"{duration} does not fit in working hours of {day_length}")
    earliest = max(now, after or now).astimezone(UTC)
    slots: list[Slot] = []
    for slot in _grid(hours, zone, duration, first_day=earliest.astimezone(zone).date()):
        if slot.start.astimezone(UTC) >= earliest:
            slots.append(slot)
            if len(slots) >= max(1, min(count, MAX_COUNT)):
                break
    return slots


def _grid(
    hours: WorkingHours, zone: ZoneInfo, duration: timedelta, *, first_day: date
) -> Iterator[Slot]:
    step = timedelta(minutes=hours.slot_minutes)
    for offset in range(SEARCH_DAYS):
        day = first_day + timedelta(days=offset)
        if day.weekday() not in hours.weekdays:
            continue
        start = datetime.combine(day, hours.start, tzinfo=zone)
        close = datetime.combine(day, hours.end, tzinfo=zone)
        while start + duration <= close:
            yield Slot(start=start, end=start + duration)
            start += step
