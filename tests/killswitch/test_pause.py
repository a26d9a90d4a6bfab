"""The kill switch with real Celery workers: a pause claims nothing more, holds what was in
flight, keeps runs that triggers start, and a resume finishes every run with each step
executed once."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from agents.models import AuditEvent
from controlroom.accounts import user_ensure
from controlroom.roles import Role
from flows.engine import reconciler, runner, runs
from flows.killswitch.pause import (
    KillSwitchError,
    flow_pause,
    flow_resume,
    global_pause,
    global_resume,
)
from flows.killswitch.selectors import state
from flows.models import Flow, HeldActivation, KillSwitch, Run, RunEvent, Step
from tests.support.flows import document, node, save, scripted, wait_terminal
from tests.support.wait import stays, wait_for

pytestmark = pytest.mark.django_db

SLOW_MS = 2500


def _flow(slug: str) -> Flow:
    """slow (an agent call taking SLOW_MS) -> fast (an agent) -> done (inline end)."""
    return save(
        document(
            slug,
            [
                node("slow", "agent", agent="slowpoke"),
                node("fast", "agent", agent="quick"),
                node("done", "end"),
            ],
            [("slow", "fast"), ("fast", "done")],
            agents=[
                scripted("slowpoke", "drafted", latency_ms=SLOW_MS),
                scripted("quick", "checked"),
            ],
        )
    )


def _claims(run: Run) -> dict[str, int]:
    """How many times each node's step was claimed (moved to running) in ``run``."""
    counts: dict[str, int] = {}
    for event in RunEvent.objects.filter(run=run, kind="step.moved", to_status="running"):
        assert event.step is not None
        counts[event.step.node_id] = counts.get(event.step.node_id, 0) + 1
    return counts


def _status(run: Run) -> str:
    run.refresh_from_db()
    return run.status


def _paused_mid_run(pause: Callable[[Flow], int], flow: Flow) -> tuple[Run, Run]:
    """Start a run, pause while its slow step executes; then a trigger starts a second run."""
    first, _ = runs.run_start(flow=flow, input={})
    wait_for(
        lambda: Step.objects.filter(run=first, node_id="slow", status="running").exists(),
        message="the slow step to be claimed",
    )
    assert pause(flow) == 1
    assert _status(first) == "paused"
    second, _ = runs.run_start(flow=flow, input={})
    assert _status(second) == "paused"
    # The in-flight step finishes and its result is kept; nothing downstream starts.
    slow = wait_for(
        lambda: Step.objects.filter(run=first, node_id="slow", status="succeeded").first(),
        timeout=30,
        message="the in-flight step to finish",
    )
    assert slow.output == "drafted"
    # Anything wrongly enqueued would be claimed within this watch.
    stays(
        lambda: (
            list(HeldActivation.objects.filter(run=first).values_list("node_id", flat=True))
            == ["fast"]
            and not Step.objects.filter(run=first, node_id="fast").exists()
            and not Step.objects.filter(run=second).exists()
            and _status(first) == "paused"
            and _status(second) == "paused"
        ),
        seconds=1.5,
        message="the held activation, no downstream step and both runs paused",
    )
    return first, second


def _finished_once(*runs_: Run) -> None:
    for run in runs_:
        assert wait_terminal(run, timeout=60).status == "succeeded"
        assert _claims(run) == {"slow": 1, "fast": 1}
        assert not HeldActivation.objects.filter(run=run).exists()
        assert run.output == "checked"


# committed rows: the steps run on the shared worker process, on its own connection
@pytest.mark.django_db(transaction=True)
def test_pausing_a_flow_holds_in_flight_results_and_resume_finishes_each_step_once(
    celery_worker: Any,
) -> None:
    admin = user_ensure(username="admin", role=Role.ADMIN)
    flow = _flow("pausable")
    other = _flow("unaffected")
    first, second = _paused_mid_run(
        lambda f: flow_pause(flow=f, user=admin, reason="bad prompt"), flow
    )
    # Other flows keep running.
    elsewhere, _ = runs.run_start(flow=other, input={})
    assert wait_terminal(elsewhere, timeout=60).status == "succeeded"
    assert flow_resume(flow=flow, user=admin) == 2
    _finished_once(first, second)
    actions = list(
        AuditEvent.objects.filter(kind="config", flow_slug="pausable")
        .order_by("id")
        .values_list("action", "actor", "reason")
    )
    assert ("flow.paused", "admin", "bad prompt") in actions
    assert ("flow.resumed", "admin", "") in actions


# committed rows: the steps run on the shared worker process, on its own connection
@pytest.mark.django_db(transaction=True)
def test_a_global_pause_stops_every_flow_until_resumed(celery_worker: Any) -> None:
    flow = _flow("everything")
    first, second = _paused_mid_run(lambda f: global_pause(reason="incident"), flow)
    assert state().active
    other = _flow("also-held")
    third, _ = runs.run_start(flow=other, input={})
    assert _status(third) == "paused"
    # A flow resumed on its own stays paused while everything is.
    flow_pause(flow=flow)
    assert global_resume() == 1  # only the run of the flow not paused on its own
    assert _status(first) == "paused"
    assert wait_terminal(third, timeout=60).status == "succeeded"
    assert flow_resume(flow=flow) == 2
    _finished_once(first, second, third)


def test_pausing_twice_or_resuming_a_running_flow_changes_nothing() -> None:
    flow = _flow("idle")
    assert flow_resume(flow=flow) == 0
    flow_pause(flow=flow)
    assert flow_pause(flow=flow) == 0
    assert AuditEvent.objects.filter(action="flow.paused").count() == 1
    with pytest.raises(KillSwitchError):
        global_pause(reason="x" * 501)


def test_the_reconciler_leaves_a_paused_runs_steps_alone() -> None:
    flow = _flow("reconciled")
    run, _ = runs.run_start(flow=flow, input={})  # no worker: its first step stays queued
    step = Step.objects.get(run=run, node_id="slow")
    flow_pause(flow=flow)
    lost_everything = reconciler.BrokerState(reset=True, backlog=0)
    assert reconciler.requeue_stranded(lost_everything) == 0
    assert reconciler.engine_tick().requeued == 0
    step.refresh_from_db()
    assert step.status == "queued" and step.attempt == 0
    assert runner.step_claim(step_id=step.id) is None  # a stray message claims nothing
    flow_resume(flow=flow)
    assert runner.step_claim(step_id=step.id) is not None


def test_a_step_of_a_switched_off_flow_is_not_claimed_before_the_sweep_reaches_its_run() -> None:
    flow = _flow("raced")
    run, _ = runs.run_start(flow=flow, input={})
    step = Step.objects.get(run=run, node_id="slow")
    # The switch is thrown but this run was not swept yet (a run started mid-sweep).
    KillSwitch.objects.create(key=f"flow:{flow.id}", flow=flow, active=True)
    assert _status(run) == "running"
    assert runner.step_claim(step_id=step.id) is None
    assert _status(run) == "paused"  # the refused claim paused it
