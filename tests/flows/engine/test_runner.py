"""Claims and completions are fenced: racing deliveries of one step execute it once."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from flows.engine import runner, runs
from flows.models import Step
from tests.support.flows import document, node, save, scripted

pytestmark = pytest.mark.django_db


def _one_step_run():
    flow = save(document("one", [node("a", "agent", agent="w")], [], agents=[scripted("w", "x")]))
    run, _ = runs.run_start(flow=flow, input={})
    return run, Step.objects.get(run=run)


# committed rows: eight threads claim the step on connections of their own
@pytest.mark.django_db(transaction=True)
def test_concurrent_claims_of_one_step_let_exactly_one_through():
    _, step = _one_step_run()
    barrier = threading.Barrier(8)
    wins: list[int] = []

    def claim() -> None:
        try:
            barrier.wait()
            claimed = runner.step_claim(step_id=step.id)
            if claimed is not None:
                wins.append(claimed.attempt)
        finally:
            connection.close()

    threads = [threading.Thread(target=claim) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert wins == [1]
    step.refresh_from_db()
    assert step.status == "running"
    assert step.events.filter(to_status="running").count() == 1


def test_a_superseded_attempt_cannot_complete_the_step():
    _, step = _one_step_run()
    claim = runner.step_claim(step_id=step.id)
    assert claim is not None
    # The reconciler decided the worker was lost and another attempt took the step over.
    Step.objects.filter(id=step.id).update(status="queued")
    second = runner.step_claim(step_id=step.id)
    assert second is not None and second.attempt == 2
    from flows.engine.nodes.base import Done

    runner._complete(claim, Done(output="stale"))
    step.refresh_from_db()
    assert step.status == "running"
    runner._complete(second, Done(output="fresh"))
    step.refresh_from_db()
    assert step.status == "succeeded"
    assert step.output == "fresh"


def test_a_step_queued_for_a_paused_or_ended_run_is_not_claimed():
    run, step = _one_step_run()
    runs.run_cancel(run_id=run.id)
    assert runner.step_claim(step_id=step.id) is None


def test_attempts_used_up_before_a_claim_fail_the_step_and_the_run():
    run, step = _one_step_run()
    Step.objects.filter(id=step.id).update(attempt=3, max_attempts=3, error="worker lost")
    assert runner.step_claim(step_id=step.id) is None
    step.refresh_from_db()
    run.refresh_from_db()
    assert step.status == "failed"
    assert step.error_class == "crash"
    assert run.status == "failed"
    assert "gave up after 3 attempts" in run.error
