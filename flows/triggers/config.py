"""The flow document's ``trigger`` block: its JSON Schema and the checks a schema cannot do
(a cron expression that parses, a time zone that exists). Pure: no database."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterBadDateError, croniter

MISSED_POLICIES = ("skip", "catch_up_once")
PREVIEW_MAX = 20
EVENTS = ("run.finished", "outcome.recorded")
TERMINAL_STATUSES = ("succeeded", "failed", "cancelled")

# Extends the v1 ``trigger`` block compatibly: every new field is optional.
TRIGGER_PROPERTIES: dict[str, Any] = {
    # schedule
    "cron": {"type": "string", "minLength": 9, "maxLength": 120},
    "timezone": {"type": "string", "minLength": 1, "maxLength": 64},
    "missed": {"enum": list(MISSED_POLICIES)},
    # schedule and event: the run's input (an event's facts are added under "event")
    "input": {"type": "object"},
    # event
    "on": {"enum": list(EVENTS)},
    "flow": {"type": "string", "maxLength": 80},
    "status": {
        "type": "array",
        "items": {"enum": list(TERMINAL_STATUSES)},
        "uniqueItems": True,
        "minItems": 1,
    },
    "metric": {"type": "string", "minLength": 1, "maxLength": 100},
    "threshold": {"type": "number"},
}


def trigger_problems(trigger: dict[str, Any]) -> list[tuple[str, str]]:
    """``(pointer, message)`` for each problem of a trigger block that passed the schema."""
    kind = trigger.get("type")
    problems: list[tuple[str, str]] = []
    if kind == "schedule":
        if "cron" not in trigger:
            problems.append(("/trigger", "a schedule trigger needs a cron expression"))
        elif not croniter.is_valid(trigger["cron"]) or len(trigger["cron"].split()) != 5:
            problems.append(
                ("/trigger/cron", f"not a 5-field cron expression: {trigger['cron']!r}")
            )
        try:
            zone(trigger)
        except ZoneInfoNotFoundError:
            problems.append(("/trigger/timezone", f"unknown time zone {trigger['timezone']!r}"))
    if kind == "event":
        if "on" not in trigger:
            problems.append(
                ("/trigger", "an event trigger needs on: run.finished or outcome.recorded")
            )
        elif trigger["on"] == "run.finished" and not trigger.get("flow"):
            problems.append(("/trigger/flow", "run.finished needs the flow whose runs to watch"))
        elif trigger["on"] == "outcome.recorded" and not trigger.get("metric"):
            problems.append(("/trigger/metric", "outcome.recorded needs the metric to watch"))
    return problems


def zone(trigger: dict[str, Any]) -> ZoneInfo:
    name = trigger.get("timezone") or "UTC"
    try:
        return ZoneInfo(name)
    except (ValueError, ZoneInfoNotFoundError):
        raise ZoneInfoNotFoundError(name) from None


def next_after(trigger: dict[str, Any], moment: datetime) -> datetime:
    """The first time strictly after ``moment`` the schedule is due (aware, in UTC), computed
    in the trigger's time zone so "9:00 on weekdays" stays 9:00 across daylight saving."""
    local = moment.astimezone(zone(trigger))
    due: datetime = croniter(trigger["cron"], local).get_next(datetime)
    return due.astimezone(ZoneInfo("UTC"))


class ScheduleInvalid(ValueError):
    """A cron expression or time zone a schedule cannot use; ``pointer`` names the field
    (``/trigger/cron`` or ``/trigger/timezone``) as the document validator would."""

    def __init__(self, pointer: str, message: str) -> None:
        super().__init__(message)
        self.pointer = pointer
        self.message = message


def schedule_preview(
    *, cron: str, timezone: str, count: int, now: datetime
) -> tuple[list[datetime], ZoneInfo]:
    """The first ``count`` (1..``PREVIEW_MAX``) times after ``now`` a schedule with ``cron`` in
    ``timezone`` is due, each in that zone, and the zone. The same times the scheduler fires
    (``next_after``, chained as ``schedules_fire`` does). Raises ``ScheduleInvalid`` with the
    validator's message for a bad expression or zone, or when the expression never comes due
    (``0 0 31 2 *``)."""
    if not 1 <= count <= PREVIEW_MAX:
        raise ScheduleInvalid("/count", f"count must be between 1 and {PREVIEW_MAX}")
    block = {"type": "schedule", "cron": cron, "timezone": timezone}
    problems = trigger_problems(block)
    if problems:
        raise ScheduleInvalid(*problems[0])
    local = zone(block)
    times: list[datetime] = []
    moment = now
    try:
        for _ in range(count):
            moment = next_after(block, moment)
            times.append(moment.astimezone(local))
    except CroniterBadDateError:
        raise ScheduleInvalid("/trigger/cron", f"{cron!r} never comes due") from None
    return times, local
