"""An attempt that lost its step (requeued by the reconciler while its worker was cut off)
learns it from its next heartbeat and calls no further tool."""

from __future__ import annotations

import pytest
from django.db.models import F

from flows.engine import runner, runs
from flows.engine.nodes.base import Superseded
from flows.guardrails.guard import StepGuard, Where
from flows.models import Step
from tests.support import tools
from tests.support.flows import document, node, save
from tests.support.wait import wait_for

# committed rows: the heartbeat thread writes the step through its own connection
pytestmark = pytest.mark.django_db(transaction=True)


def test_the_heartbeat_notices_a_superseded_attempt() -> None:
    flow = save(document("superseded", [node("work", "tool", tool="counted_sleep")], []))
    run, _ = runs.run_start(flow=flow, input={})
    claim = runner.step_claim(step_id=Step.objects.get(run=run).id)
    assert claim is not None
    heartbeat = runner._Heartbeat(claim.step.id, claim.attempt)
    with heartbeat:
        assert not heartbeat.superseded.is_set()
        # The reconciler requeued the step and another worker claimed it: a new attempt.
        Step.objects.filter(id=claim.step.id).update(attempt=F("attempt") + 1)
        wait_for(heartbeat.superseded.is_set, timeout=10, message="the heartbeat to notice")
    assert tools.calls(claim.step.idempotency_key) == 0


def test_a_superseded_guard_refuses_the_next_tool_call() -> None:
    where = Where(run_id=None, step_id=1, flow="f", subject="", policies=[])
    assert StepGuard(where).tool_call(name="counted_sleep", arguments={}, key="k").arguments == {}
    where.superseded = lambda: True
    with pytest.raises(Superseded, match="not called"):
        StepGuard(where).tool_call(name="counted_sleep", arguments={}, key="k")
