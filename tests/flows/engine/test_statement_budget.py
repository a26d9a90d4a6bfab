"""The hot path's cost, counted: a middle agent step issues a handful of SQL round trips.

Counted, not timed (machines are noisy; counts are deterministic). Every round trip the
worker's connection makes for one delivery of a step message is captured, from the claim to
the commit that activates the next step, with ``BEGIN``/``COMMIT`` included. Benchmarks
(``make bench``) report the same numbers with WAL bytes beside them.
"""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from flows.engine import runner, runs
from flows.models import Step
from tests.support.flows import document, node, save, scripted

# committed rows: a worker's transactions are real BEGIN/COMMIT pairs, not savepoints
pytestmark = pytest.mark.django_db(transaction=True)

ROUND_TRIPS = 8
TRANSACTIONS = 2


def _chain(length: int):
    flow = save(
        document(
            "budget-chain",
            [node(f"s{i}", "agent", agent="w") for i in range(length)],
            [(f"s{i}", f"s{i + 1}") for i in range(length - 1)],
            agents=[scripted("w", "ok")],
        )
    )
    run, _ = runs.run_start(flow=flow, input={"x": 1})
    return run


def _deliver(step: Step) -> list[str]:
    """One delivery of ``step``'s message on this connection, as a worker does it."""
    with CaptureQueriesContext(connection) as captured:
        runner.step_execute(step_id=step.id)
    return [query["sql"] for query in captured.captured_queries]


def _transactions(statements: list[str]) -> int:
    """Explicit transactions, plus each statement run alone in autocommit (its own one)."""
    count, inside = 0, False
    for sql in statements:
        if sql == "BEGIN":
            count, inside = count + 1, True
        elif sql in {"COMMIT", "ROLLBACK"}:
            inside = False
        elif not inside:
            count += 1
    return count


def test_a_middle_agent_step_costs_a_handful_of_round_trips():
    run = _chain(4)
    first = Step.objects.get(run=run, node_id="s0")
    _deliver(first)  # warms the per-process caches (graph, flow facts), as a busy worker has
    middle = Step.objects.get(run=run, node_id="s1")
    statements = _deliver(middle)
    transactions = _transactions(statements)
    assert Step.objects.get(id=middle.id).status == "succeeded"
    assert Step.objects.get(run=run, node_id="s2").status == "queued"
    assert len(statements) <= ROUND_TRIPS, "\n".join(statements)
    assert transactions <= TRANSACTIONS
