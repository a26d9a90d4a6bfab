"""Recovery never queues behind work: with 200 runs queued on the steps worker, the
reconciler (on the control worker's own lane) still brings an orphaned step back within its
heartbeat lapse, not after the backlog drains. Before the control lane, one worker served both
queues and the orphan came back after 122 to 254 s."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta

import pytest
from django.utils import timezone

from flows.engine import runs
from flows.models import Run, Step
from flows.states import RUN_TERMINAL
from tests.support import stack, tools
from tests.support.flows import document, node, save
from tests.support.wait import wait_for

# committed rows: the workers under test read them through their own connections
pytestmark = pytest.mark.django_db(transaction=True)

BACKLOG = 200


def test_an_orphaned_step_comes_back_on_time_behind_a_backlog(
    celery_worker_factory: Callable[..., stack.ManagedProcess], own_beat: stack.ManagedProcess
) -> None:
    celery_worker_factory(queues="steps", concurrency=2, hostname="steps@%h")
    celery_worker_factory(queues="control", concurrency=1, hostname="control@%h")
    # Long enough that 200 of them take ~25 s on two processes: the backlog outlasts recovery.
    work = node("work", "tool", tool="counted_sleep", args={"seconds": 0.25})
    flow = save(document("backlog", [work], []))
    for _ in range(BACKLOG):
        runs.run_start(flow=flow, input={})

    # A step whose worker died mid-step: running, its heartbeat lapsed long ago. Its own
    # message is last in the queue, so only the reconciler can bring it back early.
    orphan_run, _ = runs.run_start(flow=save(document("orphan", [work], [])), input={})
    lapsed = timezone.now() - timedelta(hours=1)
    Step.objects.filter(run=orphan_run).update(
        status="running", attempt=1, started_at=lapsed, heartbeat_at=lapsed
    )
    orphaned = time.monotonic()
    wait_for(
        lambda: Step.objects.get(run=orphan_run).status != "running",
        timeout=20,
        message="the reconciler to requeue the orphaned step",
    )
    back_after = time.monotonic() - orphaned
    left = Run.objects.filter(flow=flow).exclude(status__in=RUN_TERMINAL).count()
    print(f"\norphan requeued after {back_after:.1f}s with {left} runs still queued")
    assert left >= BACKLOG // 2, "the backlog drained first: this proves nothing"

    wait_for(
        lambda: not Run.objects.exclude(status__in=RUN_TERMINAL).exists(),
        timeout=240,
        message="the backlog to drain",
    )
    assert set(Run.objects.values_list("status", flat=True)) == {"succeeded"}
    orphan = Step.objects.get(run=orphan_run)
    assert (orphan.status, orphan.attempt) == ("succeeded", 2)
    assert tools.calls(orphan.idempotency_key) == 1  # attempt 1 never ran here: executed once
