"""Schedule triggers under controlled time: due times in the database, one run per due time,
the time zone respected, and the missed-run policy applied."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
import time_machine

from flows.document import InvalidDocument
from flows.models import Run, Trigger
from flows.triggers.schedules import schedules_fire
from flows.versions import flow_version_publish
from tests.support.flows import document, launchable, node, save, scripted

pytestmark = pytest.mark.django_db

# Monday 23 November 2026; Berlin is UTC+1 in winter.
MONDAY_0700_UTC = datetime(2026, 11, 23, 7, 0, tzinfo=UTC)


def _scheduled(missed: str = "skip", cron: str = "0 9 * * 1-5", **extra: Any) -> Any:
    flow = save(
        launchable(
            document(
                "daily",
                [node("draft", "agent", agent="writer", prompt="hi")],
                [],
                agents=[scripted("writer", "ok")],
                trigger={
                    "type": "schedule",
                    "cron": cron,
                    "timezone": "Europe/Berlin",
                    "missed": missed,
                    "input": {"topic": "news"},
                    **extra,
                },
            )
        )
    )
    flow_version_publish(flow=flow, version=flow.versions.get())
    return flow


def _due(flow: Any) -> datetime | None:
    return Trigger.objects.get(flow=flow).next_due_at


def test_publishing_stores_the_next_due_time_in_the_flows_time_zone() -> None:
    with time_machine.travel(MONDAY_0700_UTC, tick=False):
        flow = _scheduled()
    assert _due(flow) == datetime(2026, 11, 23, 8, 0, tzinfo=UTC)  # 09:00 in Berlin


def test_a_due_schedule_starts_exactly_one_run() -> None:
    with time_machine.travel(MONDAY_0700_UTC, tick=False):
        flow = _scheduled()
        assert schedules_fire() == 0
    with time_machine.travel(datetime(2026, 11, 23, 8, 0, 10, tzinfo=UTC), tick=False):
        assert schedules_fire() == 1
        assert schedules_fire() == 0
    run = Run.objects.get()
    assert run.input == {"topic": "news"}
    assert run.idempotency_key == "schedule:2026-11-23T08:00:00+00:00"
    assert _due(flow) == datetime(2026, 11, 24, 8, 0, tzinfo=UTC)


def test_weekends_are_not_due() -> None:
    friday = datetime(2026, 11, 27, 8, 0, 5, tzinfo=UTC)
    with time_machine.travel(datetime(2026, 11, 27, 7, 0, tzinfo=UTC), tick=False):
        flow = _scheduled()
    with time_machine.travel(friday, tick=False):
        schedules_fire()
    assert _due(flow) == datetime(2026, 11, 30, 8, 0, tzinfo=UTC)  # the next Monday


def test_daylight_saving_keeps_the_local_hour() -> None:
    with time_machine.travel(datetime(2027, 3, 26, 12, 0, tzinfo=UTC), tick=False):
        flow = _scheduled()
    # Friday 26 March 2027 has passed 09:00; Monday 29 March is summer time (UTC+2).
    assert _due(flow) == datetime(2027, 3, 29, 7, 0, tzinfo=UTC)


def test_missed_runs_are_skipped_by_default() -> None:
    with time_machine.travel(MONDAY_0700_UTC, tick=False):
        flow = _scheduled("skip")
    # The scheduler was down from Monday morning until Wednesday 10:00 UTC.
    with time_machine.travel(datetime(2026, 11, 25, 10, 0, tzinfo=UTC), tick=False):
        assert schedules_fire() == 0
    assert not Run.objects.exists()
    assert _due(flow) == datetime(2026, 11, 26, 8, 0, tzinfo=UTC)


def test_missed_runs_catch_up_once() -> None:
    with time_machine.travel(MONDAY_0700_UTC, tick=False):
        flow = _scheduled("catch_up_once")
    with time_machine.travel(datetime(2026, 11, 25, 10, 0, tzinfo=UTC), tick=False):
        assert schedules_fire() == 1
        assert schedules_fire() == 0
    assert Run.objects.count() == 1
    assert _due(flow) == datetime(2026, 11, 26, 8, 0, tzinfo=UTC)


def test_republishing_without_a_schedule_removes_it() -> None:
    with time_machine.travel(MONDAY_0700_UTC, tick=False):
        flow = _scheduled()
        doc = flow.versions.get().document | {"trigger": {"type": "manual"}}
        manual = save(doc)
        flow_version_publish(flow=manual, version=manual.versions.order_by("-number").first())
    assert not Trigger.objects.exists()


@pytest.mark.parametrize(
    ("trigger", "pointer"),
    [
        ({"type": "schedule", "cron": "61 * * * *"}, "/trigger/cron"),
        (
            {"type": "schedule", "cron": "0 9 * * 1-5", "timezone": "Mars/Olympus"},
            "/trigger/timezone",
        ),
        ({"type": "schedule"}, "/trigger"),
        ({"type": "schedule", "cron": "0 9 * * *", "missed": "always"}, "/trigger/missed"),
    ],
)
def test_bad_schedules_are_refused_on_save(trigger: dict[str, Any], pointer: str) -> None:
    doc = document("bad", [node("a", "end")], [], trigger=trigger)
    with pytest.raises(InvalidDocument) as caught:
        save(doc)
    assert pointer in [problem.pointer for problem in caught.value.problems]
