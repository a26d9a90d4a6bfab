"""Event triggers: a finished run or a recorded outcome starts the flows watching it, once per
event, with the event's facts as input; threshold triggers fire once, on the crossing."""

from __future__ import annotations

from typing import Any

import pytest

from flows.engine.hooks import HOOKS
from flows.engine.runs import run_cancel, run_start
from flows.models import Run, RunEvent
from flows.triggers import events
from flows.triggers.outcomes import outcome_record
from flows.versions import flow_version_publish
from tests.support.flows import LAUNCH_READY, document, drive, node, save, scripted

# committed rows: event triggers start the watching flows' runs in on_commit callbacks
pytestmark = pytest.mark.django_db(transaction=True)


def _flow(slug: str, trigger: dict[str, Any] | None = None) -> Any:
    flow = save(
        document(
            slug,
            [node("draft", "agent", agent="writer", prompt="hi")],
            [],
            agents=[scripted("writer", "done")],
            subject="{{ input.email or input.event.subject }}",
            trigger=trigger or {"type": "manual"},
            feedback=LAUNCH_READY["feedback"],
            roi=LAUNCH_READY["roi"],
        )
    )
    flow_version_publish(flow=flow, version=flow.versions.get())
    return flow


def _runs_on(*subjects: str) -> None:
    """Runs (left unfinished, of a flow no trigger watches) on ``subjects``, for outcomes to
    attach to: an outcome whose subject no run worked on is refused."""
    accounts = _flow("accounts")
    for subject in subjects:
        run_start(flow=accounts, input={"email": subject})


def test_a_finished_run_starts_the_watching_flow_once() -> None:
    source = _flow("qualify")
    follow = _flow("follow-up", {"type": "event", "on": "run.finished", "flow": "qualify"})
    run, _ = run_start(flow=source, input={"email": "a@x.test"})
    drive(run)
    chained = Run.objects.get(flow=follow)
    assert chained.input["event"]["run_id"] == str(run.id)
    assert chained.input["event"]["status"] == "succeeded"
    assert chained.subject == "a@x.test"
    assert RunEvent.objects.filter(run=chained, kind="trigger.event").exists()
    # The same event again (a redelivery) starts nothing new.
    assert [r.id for r in events.run_finished(run_id=run.id)] == [chained.id]
    assert Run.objects.filter(flow=follow).count() == 1


def test_only_the_watched_statuses_start_runs() -> None:
    source = _flow("qualify")
    _flow(
        "on-failure",
        {"type": "event", "on": "run.finished", "flow": "qualify", "status": ["failed"]},
    )
    run, _ = run_start(flow=source, input={"email": "a@x.test"})
    drive(run)
    assert Run.objects.count() == 1


def test_chains_that_loop_stop_at_the_depth_limit() -> None:
    _flow("ping", {"type": "event", "on": "run.finished", "flow": "pong"})
    pong = _flow("pong", {"type": "event", "on": "run.finished", "flow": "ping"})
    drive(run_start(flow=pong, input={"email": "a@x.test"})[0])
    for _ in range(events.MAX_CHAIN_DEPTH + 3):
        for run in Run.objects.exclude(status__in=["succeeded", "failed", "cancelled"]):
            drive(run)
    assert Run.objects.count() == events.MAX_CHAIN_DEPTH + 1


def test_an_outcome_starts_the_flow_watching_its_metric() -> None:
    watcher = _flow(
        "celebrate", {"type": "event", "on": "outcome.recorded", "metric": "meeting_booked"}
    )
    _runs_on("a@x.test", "b@x.test")
    outcome_record(subject="a@x.test", metric="meeting_booked", value=1)
    outcome_record(subject="b@x.test", metric="other", value=1)
    started = Run.objects.get(flow=watcher)
    assert started.input["event"]["metric"] == "meeting_booked"
    assert started.subject == "a@x.test"


def test_a_threshold_fires_once_when_the_total_crosses_it() -> None:
    watcher = _flow(
        "milestone",
        {"type": "event", "on": "outcome.recorded", "metric": "revenue", "threshold": 100},
    )
    _runs_on("acme")
    for value in ("40", "50", "20", "500"):
        outcome_record(subject="acme", metric="revenue", value=value)
    runs = list(Run.objects.filter(flow=watcher))
    assert len(runs) == 1 and runs[0].input["event"]["value"] == "20.000000"


@pytest.mark.django_db  # nothing here happens after commit
def test_bad_event_triggers_are_refused_on_save() -> None:
    from flows.document import InvalidDocument

    with pytest.raises(InvalidDocument):
        _flow("broken", {"type": "event", "on": "run.finished"})


def _launchable(slug: str, trigger: dict[str, Any]) -> Any:
    """A published flow whose document passes the launch checklist on its own."""
    doc = document(
        slug,
        [node("draft", "agent", agent="writer", prompt="hi")],
        [],
        agents=[scripted("writer", "done")],
        subject="{{ input.email }}",
        trigger=trigger,
        feedback={"outcome": "meeting_booked"},
        roi={"baseline_minutes": 5, "hourly_cost": 40, "success_outcome": "meeting_booked"},
    )
    flow = save(doc)
    flow_version_publish(flow=flow, version=flow.versions.get())
    return flow


def test_a_cancelled_run_starts_the_flow_watching_for_cancellations() -> None:
    source = _launchable("qualify", {"type": "manual"})
    follow = _launchable(
        "clean-up",
        {"type": "event", "on": "run.finished", "flow": "qualify", "status": ["cancelled"]},
    )
    run, _ = run_start(flow=source, input={"email": "a@x.test"})
    run_cancel(run_id=run.id, reason="changed my mind")
    chained = Run.objects.get(flow=follow)
    assert chained.input["event"]["run_id"] == str(run.id)
    assert chained.input["event"]["status"] == "cancelled"


def test_events_the_hooks_missed_are_started_by_the_catch_up(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The process dies between the commit and the after-commit hook: the reconciler's
    catch-up starts what was missed, once, and leaves young events to the hooks."""
    from datetime import timedelta

    monkeypatch.setattr(HOOKS, "run_finished", ())  # the engine's hand-off never happens
    monkeypatch.setattr(events, "outcome_recorded_after_commit", lambda outcome_id: None)
    source = _flow("qualify")
    follow = _flow("follow-up", {"type": "event", "on": "run.finished", "flow": "qualify"})
    watcher = _flow(
        "milestone",
        {"type": "event", "on": "outcome.recorded", "metric": "revenue", "threshold": 100},
    )
    run, _ = run_start(flow=source, input={"email": "a@x.test"})
    drive(run)
    _runs_on("acme")
    for value in ("40", "70", "500"):
        outcome_record(subject="acme", metric="revenue", value=value)
    assert not Run.objects.filter(flow__in=[follow, watcher]).exists()

    run.refresh_from_db()
    assert run.finished_at is not None
    assert events.catch_up(now=run.finished_at + timedelta(seconds=1)) == 0  # still the hooks' turn
    later = run.finished_at + events.CATCH_UP_GRACE + timedelta(seconds=5)
    assert events.catch_up(now=later) == 2
    chained = Run.objects.get(flow=follow)
    assert chained.input["event"]["run_id"] == str(run.id)
    assert Run.objects.get(flow=watcher).input["event"]["value"] == "70.000000"
    assert events.catch_up(now=later) == 0  # once
    assert events.catch_up(now=later + events.CATCH_UP_WINDOW) == 0
