"""Per-step latency of a long sequential agent chain against a raw Celery chain.

Subject: one run of a ``BENCH_CHAIN_STEPS``-step chain of scripted agent steps (the offline
model answers at once) on `make run`-shaped workers; time from ``run_start`` to the run's
``finished_at``, divided by the steps. Comparator: a Celery ``chain`` of as many bare tasks
(``bench.hop``) on the same worker processes, from publish to the last hop's own clock.
Alternating rounds (``BENCH_CHAIN_ROUNDS``); medians. Target: ours ≤ 1.5x the raw hop.
"""

from __future__ import annotations

import pytest

from tests.bench import harness
from tests.bench.engine import chain_flow, engine_runs, raw_chains

# committed rows: the runs execute on real worker processes with their own connections
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(900)]

STEPS = harness.int_knob("BENCH_CHAIN_STEPS", 40)
ROUNDS = harness.int_knob("BENCH_CHAIN_ROUNDS", 5)


def test_per_step_latency_of_a_long_chain(engine_stack: object) -> None:
    bench = harness.Benchmark(
        "step_latency",
        f"per-step latency: {STEPS}-step agent chain vs a raw Celery chain of {STEPS} tasks",
        settings={"steps": STEPS, "rounds": ROUNDS, "workers": "steps x2, control x1, beat"},
    )
    flow = chain_flow("bench-latency", STEPS)
    raw_chains(1, STEPS)  # warm both paths: imports, connections, prepared statements
    engine_runs(flow, 1)
    rounds = harness.alternate(
        ROUNDS,
        lambda _: raw_chains(1, STEPS) / STEPS * 1000,
        lambda _: engine_runs(flow, 1) / STEPS * 1000,
    )
    bench.rounds, bench.order = rounds.count, rounds.order
    bench.add(
        harness.Measure(
            "per-step latency",
            "ms",
            ours=harness.percentile(rounds.ours, 50),
            comparator=harness.percentile(rounds.comparator, 50),
            comparator_label="raw Celery chain",
            target=harness.Target("ratio", "<=", 1.5),
            ours_samples=rounds.ours,
            comparator_samples=rounds.comparator,
        )
    )
    bench.save()
