"""Eager continuation: a worker that completes a step runs the run's next step itself, durably
(each step claimed and recorded as always), bounded, and never for a fan-out's other branches.
The same with a worker killed mid-chain is in tests/faults/test_continuation_faults.py."""

from __future__ import annotations

from typing import Any

import pytest

from flows.engine import runner, runs
from flows.models import RunEvent, Step
from tests.support.flows import document, node, save, scripted

# committed rows: a worker's completions commit, and continuation starts after the commit
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def published(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Step ids handed to the queue (not published for real)."""
    sent: list[int] = []
    monkeypatch.setattr("flows.tasks.publish_now", lambda step: sent.append(step.id))
    return sent


def _chain(slug: str, length: int) -> Any:
    flow = save(
        document(
            slug,
            [node(f"s{i}", "agent", agent="w") for i in range(length)],
            [(f"s{i}", f"s{i + 1}") for i in range(length - 1)],
            agents=[scripted("w", "ok")],
        )
    )
    run, _ = runs.run_start(flow=flow, input={})
    return run


def test_a_sequential_run_continues_on_the_worker_without_crossing_the_queue(published):
    run = _chain("eager-chain", 4)
    published.clear()
    first = Step.objects.get(run=run, node_id="s0")
    runner.step_execute(step_id=first.id, eager=True)
    run.refresh_from_db()
    assert run.status == "succeeded"
    assert published == []
    claims = RunEvent.objects.filter(run=run, to_status="running", step__isnull=False)
    assert sorted((event.step.node_id, event.data.get("continued")) for event in claims) == [
        ("s0", False),
        ("s1", True),
        ("s2", True),
        ("s3", True),
    ]


def test_the_chain_is_bounded_and_the_rest_crosses_the_queue(published, settings):
    settings.CONTROLROOM = {**settings.CONTROLROOM, "EAGER_CHAIN_MAX": 2}
    run = _chain("eager-bounded", 5)
    published.clear()
    runner.step_execute(step_id=Step.objects.get(run=run, node_id="s0").id, eager=True)
    done = set(Step.objects.filter(run=run, status="succeeded").values_list("node_id", flat=True))
    assert done == {"s0", "s1", "s2"}
    fourth = Step.objects.get(run=run, node_id="s3")
    assert fourth.status == "queued"
    assert published == [fourth.id]


def test_a_spent_time_slice_ends_the_chain(published, settings):
    settings.CONTROLROOM = {**settings.CONTROLROOM, "EAGER_SLICE_SECONDS": 0.0}
    run = _chain("eager-slice", 3)
    published.clear()
    runner.step_execute(step_id=Step.objects.get(run=run, node_id="s0").id, eager=True)
    second = Step.objects.get(run=run, node_id="s1")
    assert second.status == "queued"
    assert published == [second.id]


def test_fan_out_branches_cross_the_queue_but_one(published):
    flow = save(
        document(
            "eager-fan",
            [
                node("start", "agent", agent="w"),
                node("a", "agent", agent="w"),
                node("b", "agent", agent="w"),
                node("c", "agent", agent="w"),
            ],
            [("start", "a"), ("start", "b"), ("start", "c")],
            agents=[scripted("w", "ok")],
        )
    )
    run, _ = runs.run_start(flow=flow, input={})
    published.clear()
    runner.step_execute(step_id=Step.objects.get(run=run, node_id="start").id, eager=True)
    branches = Step.objects.filter(run=run, node_id__in=["a", "b", "c"])
    ran_here = [step.node_id for step in branches if step.status == "succeeded"]
    queued = sorted(step.id for step in branches if step.status == "queued")
    assert len(ran_here) == 1
    assert sorted(published) == queued and len(queued) == 2


def test_a_delivery_without_eager_runs_one_step(published):
    run = _chain("eager-off", 2)
    published.clear()
    runner.step_execute(step_id=Step.objects.get(run=run, node_id="s0").id)
    second = Step.objects.get(run=run, node_id="s1")
    assert second.status == "queued"
    assert published == [second.id]
