"""A lost database connection is an infrastructure fault, not the step's failure: the step is
retried on a fresh connection, whether the loss hits the node itself or its completion."""

from __future__ import annotations

import pytest

from flows.engine import runs
from flows.models import RunEvent, Step
from tests.support import tools
from tests.support.flows import document, drive, node, save

# committed rows: PostgreSQL drops the connection mid-step, and the test's rows must outlive it
pytestmark = pytest.mark.django_db(transaction=True)


def _run(slug: str, **args: str) -> tuple[str, Step]:
    flow = save(document(slug, [node("blip", "tool", tool="lose_database", args=args)], []))
    run, _ = runs.run_start(flow=flow, input={})
    run = drive(run)
    return run.status, Step.objects.get(run=run, node_id="blip")


def test_a_connection_lost_inside_the_step_retries_the_step() -> None:
    status, step = _run("blip-inside", then="query")
    assert status == "succeeded"
    assert (step.status, step.attempt, step.output) == ("succeeded", 2, {"call": 2})
    retry = RunEvent.objects.get(step=step, kind="step.moved", to_status="queued")
    assert "database connection lost" in retry.data["error"]
    assert tools.calls(step.idempotency_key) == 2


def test_a_connection_lost_before_the_completion_completes_the_same_attempt() -> None:
    status, step = _run("blip-completion")
    assert status == "succeeded"
    assert (step.status, step.attempt, step.output) == ("succeeded", 1, {"call": 1})
    assert tools.calls(step.idempotency_key) == 1
