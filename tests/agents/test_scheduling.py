"""Meeting slots: inside the working hours, on working days, in the configured time zone, and
the same answer for the same "now"."""

from __future__ import annotations

from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

import pytest
from pytest_django.fixtures import Settings

from agents import tools
from agents.scheduling import SchedulingError, slots_propose
from controlroom.env import WorkingHours

OFFICE = WorkingHours()  # UTC, Monday to Friday, 09:00-17:00, 30-minute slots
BERLIN = WorkingHours(time_zone="Europe/Berlin", start=time(9), end=time(12), slot_minutes=60)


def starts(**kwargs: object) -> list[str]:
    return [slot.start.isoformat() for slot in slots_propose(**kwargs)]  # type: ignore[arg-type]


def test_slots_start_on_the_grid_after_now() -> None:
    monday = datetime(2026, 3, 2, 10, 7, tzinfo=UTC)
    assert starts(now=monday, count=3, hours=OFFICE) == [
        "2026-03-02T10:30:00+00:00",
        "2026-03-02T11:00:00+00:00",
        "2026-03-02T11:30:00+00:00",
    ]


def test_slots_skip_the_evening_and_the_weekend() -> None:
    friday_late = datetime(2026, 3, 6, 16, 31, tzinfo=UTC)
    assert starts(now=friday_late, count=2, hours=OFFICE) == [
        "2026-03-09T09:00:00+00:00",
        "2026-03-09T09:30:00+00:00",
    ]


def test_a_long_meeting_must_end_by_closing_time() -> None:
    late = datetime(2026, 3, 2, 16, 0, tzinfo=UTC)
    [slot] = slots_propose(now=late, count=1, duration_minutes=90, hours=OFFICE)
    assert slot.start.isoformat() == "2026-03-03T09:00:00+00:00"
    assert slot.end.isoformat() == "2026-03-03T10:30:00+00:00"
    with pytest.raises(SchedulingError):
        slots_propose(now=late, count=1, duration_minutes=9 * 60, hours=OFFICE)


def test_slots_are_in_the_configured_zone() -> None:
    # 07:30 UTC is 08:30 in Berlin (winter time): the day's first slot is at 09:00 local.
    now = datetime(2026, 1, 12, 7, 30, tzinfo=UTC)
    slots = slots_propose(now=now, count=4, hours=BERLIN)
    assert [slot.start.isoformat() for slot in slots] == [
        "2026-01-12T09:00:00+01:00",
        "2026-01-12T10:00:00+01:00",
        "2026-01-12T11:00:00+01:00",
        "2026-01-13T09:00:00+01:00",
    ]
    assert slots[0].start.astimezone(UTC).hour == 8


def test_local_hours_hold_across_a_daylight_saving_change() -> None:
    new_york = WorkingHours(time_zone="America/New_York", weekdays=(4, 0), slot_minutes=480)
    friday = datetime(2026, 3, 6, 12, 0, tzinfo=UTC)  # 07:00 EST; DST starts Sunday the 8th
    slots = slots_propose(now=friday, count=2, hours=new_york)
    assert [slot.start.isoformat() for slot in slots] == [
        "2026-03-06T09:00:00-05:00",
        "2026-03-09T09:00:00-04:00",
    ]


def test_after_moves_the_window_and_the_answer_is_deterministic() -> None:
    now = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
    after = datetime(2026, 3, 4, 13, 0, tzinfo=ZoneInfo("Europe/Berlin"))  # 12:00 UTC
    first = starts(now=now, count=2, after=after, hours=OFFICE)
    assert first == ["2026-03-04T12:00:00+00:00", "2026-03-04T12:30:00+00:00"]
    assert starts(now=now, count=2, after=after, hours=OFFICE) == first


def test_the_tool_reads_the_settings_and_answers_in_their_zone(settings: Settings) -> None:
    settings.CONTROLROOM = {**settings.CONTROLROOM, "WORKING_HOURS": BERLIN}
    assert tools.tool_get("propose_slots").category == "read"
    result = tools.tool_call(
        name="propose_slots",
        args={"count": 2, "duration_minutes": 30, "after": "2030-01-07T10:15"},
        idempotency_key="run:slots:",
        subject="",
    )
    assert result == {
        "time_zone": "Europe/Berlin",
        "slots": [
            {"start": "2030-01-07T11:00:00+01:00", "end": "2030-01-07T11:30:00+01:00"},
            {"start": "2030-01-08T09:00:00+01:00", "end": "2030-01-08T09:30:00+01:00"},
        ],
    }


def test_the_tool_refuses_a_date_it_cannot_read() -> None:
    with pytest.raises(tools.ToolError, match="ISO"):
        tools.tool_call(
            name="propose_slots",
            args={"after": "next tuesday, ok"},
            idempotency_key="run:slots:",
            subject="",
        )
