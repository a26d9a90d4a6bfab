"""The run lock locks the run row only: while one run's step holds it (a worker frozen inside
its completion), another run of the same flow starts, and the reconciler still works."""

from __future__ import annotations

import pytest

from flows.engine import reconciler, runs
from flows.models import Run
from tests.support.flows import document, node, save
from tests.support.locks import lock_timeout, run_locked

# committed rows: a second connection (a thread) holds the first run's lock
pytestmark = pytest.mark.django_db(transaction=True)


def test_a_new_run_of_the_flow_starts_while_another_run_is_locked() -> None:
    flow = save(document("locked", [node("work", "tool", tool="counted_sleep", args={})], []))
    first, _ = runs.run_start(flow=flow, input={})
    with run_locked(first.id), lock_timeout(3):  # waiting would raise, not hang
        second, _ = runs.run_start(flow=flow, input={})
        assert Run.objects.get(id=second.id).status in {"queued", "running"}
        reconciler.requeue_stranded()  # reads runs and versions without locking them
