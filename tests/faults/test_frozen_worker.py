"""A worker frozen inside one run's completion (it holds that run's lock) stops nothing else:
another run of the same flow starts and finishes meanwhile, and the frozen run finishes once
its worker thaws. Before, the run lock also locked the flow-version row, and intake for the
flow stopped for as long as the worker was frozen."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from flows.engine import runs
from flows.models import Run, Step
from tests.support import stack, tools
from tests.support.flows import document, node, save, wait_terminal
from tests.support.locks import lock_timeout, run_locked
from tests.support.wait import wait_for

# committed rows: the worker under test, and a thread standing in for the frozen worker, read
# them through their own connections
pytestmark = pytest.mark.django_db(transaction=True)


def test_a_frozen_worker_does_not_stop_other_runs_of_its_flow(
    celery_worker_factory: Callable[..., stack.ManagedProcess], own_beat: stack.ManagedProcess
) -> None:
    celery_worker_factory(queues="steps,control", concurrency=2)
    work = node("work", "tool", tool="counted_sleep", args={"seconds": "{{ input.seconds }}"})
    flow = save(document("frozen", [work], []))
    first, _ = runs.run_start(flow=flow, input={"seconds": 2})
    wait_for(
        lambda: Step.objects.filter(run=first, status="running").exists(),
        message="the first run's step to be running",
    )
    # The frozen worker: a transaction holding the first run's lock, as a worker stopped
    # inside that run's completion holds it, until thawed.
    with run_locked(first.id) as frozen, lock_timeout(5):  # intake waiting on it fails here
        second, _ = runs.run_start(flow=flow, input={"seconds": 0})
        assert wait_terminal(second, timeout=30).status == "succeeded"
        assert frozen.is_alive()  # still frozen while the second run went all the way
        # The first run's step has done its work; its completion waits on the frozen lock.
        wait_for(lambda: tools.calls(Step.objects.get(run=first).idempotency_key) == 1)
        assert Run.objects.get(id=first.id).status == "running"
    assert wait_terminal(first, timeout=30).status == "succeeded"
    for run in (first, second):
        assert tools.calls(Step.objects.get(run=run).idempotency_key) == 1
