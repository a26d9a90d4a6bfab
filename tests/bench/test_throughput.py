"""Engine throughput on many five-step runs against raw Celery hops, same workers, same run.

Subject: ``BENCH_THROUGHPUT_RUNS`` runs of a 5-step scripted agent chain started at once on
`make run`-shaped workers; steps per second from the first start to the last ``finished_at``.
Comparator: as many Celery chains of 5 bare tasks (``bench.hop``) published at once on the
same worker processes; hops per second. Alternating rounds (``BENCH_THROUGHPUT_ROUNDS``);
medians. Seeds nothing synthetic. Target: ours ≥ 1x the raw hops.
"""

from __future__ import annotations

import pytest

from tests.bench import harness
from tests.bench.engine import chain_flow, engine_runs, raw_chains

# committed rows: the runs execute on real worker processes with their own connections
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(1800)]

RUNS = harness.int_knob("BENCH_THROUGHPUT_RUNS", 200)
ROUNDS = harness.int_knob("BENCH_THROUGHPUT_ROUNDS", 2)
STEPS = 5


def test_five_step_throughput_against_raw_celery_hops(engine_stack: object) -> None:
    bench = harness.Benchmark(
        "throughput",
        f"5-step throughput: {RUNS} runs x {STEPS} agent steps vs {RUNS} raw chains x {STEPS}",
        settings={"runs": RUNS, "steps": STEPS, "rounds": ROUNDS},
    )
    flow = chain_flow("bench-throughput", STEPS)
    raw_chains(20, STEPS)  # warm both paths
    engine_runs(flow, 10)
    rounds = harness.alternate(
        ROUNDS,
        lambda _: RUNS * STEPS / raw_chains(RUNS, STEPS),
        lambda _: RUNS * STEPS / engine_runs(flow, RUNS),
    )
    bench.rounds, bench.order = rounds.count, rounds.order
    ours = harness.percentile(rounds.ours, 50)
    bench.add(
        harness.Measure(
            f"{STEPS}-step runs, steps/s",
            "/s",
            ours=ours,
            comparator=harness.percentile(rounds.comparator, 50),
            comparator_label="raw Celery hops",
            target=harness.Target("ratio", ">=", 1.0),
            ours_samples=rounds.ours,
            comparator_samples=rounds.comparator,
            note=f"{ours / STEPS:.1f} runs/s",
        )
    )
    bench.save()
