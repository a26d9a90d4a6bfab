"""A 5-field cron expression in words, for the editor's schedule preview ("At 09:00, Monday
through Friday"). Covers the usual shapes (fixed times, every n minutes, hourly, day-of-week
and day-of-month lists and ranges, months); for anything else ``cron_describe`` gives None and
the caller shows only the next due times. Times are wall-clock times of the schedule's own zone.
Pure: no database, no zone arithmetic."""

from __future__ import annotations

import re

DAYS = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")
MONTHS = (
    "January", "February", "March", "April", "May", "June", "July", "August", "September",
    "October", "November", "December",
)  # fmt: skip
_DAY_NAMES = {name[:3].lower(): number for number, name in enumerate(DAYS)}
_MONTH_NAMES = {name[:3].lower(): number for number, name in enumerate(MONTHS, start=1)}
_STEP = re.compile(r"^\*/([1-9][0-9]?)$")
# More fixed times than this read worse than the list of next runs beside them.
MAX_TIMES = 6


def _join(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def _number(text: str, names: dict[str, int], low: int, high: int) -> int | None:
    value = names.get(text.lower()) if not text.isdigit() else int(text)
    return value if value is not None and low <= value <= high else None


def _values(field: str, names: dict[str, int], low: int, high: int) -> list[int] | None:
    """The values of a list of numbers and ranges (``1,15`` ``MON-FRI``); None for ``*``,
    steps or anything else this module does not put into words."""
    values: list[int] = []
    for part in field.split(","):
        first, _, last = part.partition("-")
        start = _number(first, names, low, high)
        end = _number(last, names, low, high) if last else start
        if start is None or end is None or end < start:
            return None
        values.extend(range(start, end + 1))
    return sorted(set(values))


def _range(field: str, names: dict[str, int], low: int, high: int) -> tuple[int, int] | None:
    first, dash, last = field.partition("-")
    if not dash or "," in field:
        return None
    start, end = _number(first, names, low, high), _number(last, names, low, high)
    return (start, end) if start is not None and end is not None and start < end else None


def _time(minute: str, hour: str) -> str | None:
    step = _STEP.match(minute)
    if hour == "*":
        if minute == "*":
            return "every minute"
        if step:
            return f"every {step.group(1)} minutes"
        minutes = _values(minute, {}, 0, 59)
        if minutes is None:
            return None
        plural = "s" if len(minutes) > 1 else ""
        return f"at minute{plural} {_join([str(m) for m in minutes])} of every hour"
    hour_step = _STEP.match(hour)
    minutes = _values(minute, {}, 0, 59)
    if hour_step and minutes and len(minutes) == 1:
        return f"every {hour_step.group(1)} hours from 00:{minutes[0]:02d}"
    hours = _values(hour, {}, 0, 23)
    if hours is None or minutes is None:
        return None
    times = [f"{h:02d}:{m:02d}" for h in hours for m in minutes]
    if len(times) <= MAX_TIMES:
        return "at " + _join(times)
    span = _range(hour, {}, 0, 23)
    if span and len(minutes) == 1:
        return (
            f"every hour from {span[0]:02d}:{minutes[0]:02d} through {span[1]:02d}:{minutes[0]:02d}"
        )
    return None


def _weekdays(dow: str) -> str | None:
    days = _values(dow, _DAY_NAMES, 0, 7)
    if days is None:
        return None
    named = sorted({day % 7 for day in days})  # 0 and 7 are both Sunday
    span = _range(dow, _DAY_NAMES, 0, 7)
    if len(named) == 7:
        return "every day"
    if span and span[1] <= 6:
        return f"{DAYS[span[0]]} through {DAYS[span[1]]}"
    return "on " + _join([DAYS[day] for day in named])


def _days(dom: str, dow: str) -> str | None:
    weekdays = _weekdays(dow) if dow != "*" else None
    dates = _values(dom, {}, 1, 31) if dom != "*" else None
    if (dow != "*" and weekdays is None) or (dom != "*" and dates is None):
        return None
    monthly = (
        f"on day{'s' if len(dates) > 1 else ''} {_join([str(d) for d in dates])} of the month"
        if dates
        else None
    )
    if monthly and weekdays:
        return f"{monthly} or {weekdays}"  # cron runs when either matches
    return monthly or weekdays or "every day"


def cron_describe(cron: str) -> str | None:
    """``cron`` in words ("At 09:00, Monday through Friday"), or None when its shape is not
    one this module covers. The expression is assumed valid (``config.trigger_problems``)."""
    fields = cron.split()
    if len(fields) != 5:
        return None
    minute, hour, dom, month, dow = fields
    when, days = _time(minute, hour), _days(dom, dow)
    months = _values(month, _MONTH_NAMES, 1, 12) if month != "*" else []
    if when is None or days is None or months is None:
        return None
    parts = [when]
    if days != "every day" or "every" not in when:
        parts.append(days)
    if months:
        parts.append("in " + _join([MONTHS[m - 1] for m in months]))
    sentence = ", ".join(parts)
    return sentence[0].upper() + sentence[1:]
