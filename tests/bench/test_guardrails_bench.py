"""What guardrails cost the engine, as a ratio measured in the same run.

Runs of ``STEPS`` in-process agent steps (``drive``: claim, execute, complete; every model call
goes through the guard) under a realistic set of enabled policies — step limits, a run budget
(a reservation under an advisory lock per model call), PII redaction (not applying to the
offline model), a content rule, an approval and a tool scope — against the same runs with no
policy at all. Rounds alternate so a neighbour's load hits both sides alike. Seeds no
synthetic run. Run with ``make bench`` (``BENCH_RUNS``).
"""

from __future__ import annotations

import os
import time

import pytest

from agents.models import Policy
from flows.engine import runs
from tests.bench import harness
from tests.support.flows import document, drive, node, save, scripted

# committed rows: the timed engine transactions must really commit, as in production
pytestmark = pytest.mark.django_db(transaction=True)

RUNS = int(os.environ.get("BENCH_RUNS", "40"))
STEPS = 5
ROUNDS = 4

POLICIES = [
    ("limits", "block", {"max_steps": 1000, "max_agent_turns": 50}),
    ("budget", "block", {"per": "run", "max_tokens": 1_000_000}),
    ("pii", "redact", {"restore": True}),
    ("content", "block", {"phrases": ["guaranteed returns"]}),
    ("approval", "require_approval", {"categories": ["payment"]}),
    ("tool_scope", "block", {"deny": ["mcp:*"]}),
]


def _runs(count: int) -> float:
    flow = save(
        document(
            f"bench-guard-{time.monotonic_ns()}",
            [node(f"s{i}", "agent", agent="fast") for i in range(STEPS)],
            [(f"s{i}", f"s{i + 1}") for i in range(STEPS - 1)],
            agents=[scripted("fast", "ok")],
        )
    )
    started = time.perf_counter()
    for _ in range(count):
        run, _ = runs.run_start(flow=flow, input={})
        assert drive(run).status == "succeeded", run.error
    return time.perf_counter() - started


def test_guardrails_cost_per_run() -> None:
    _runs(3)  # warm caches and connections
    per_round = max(RUNS // ROUNDS, 1)
    guarded_ms: list[float] = []
    bare_ms: list[float] = []
    for _ in range(ROUNDS):
        bare_ms.append(_runs(per_round) / per_round * 1000)
        for index, (kind, verdict, config) in enumerate(POLICIES):
            Policy.objects.create(
                slug=f"bench-{index}", name=kind, kind=kind, verdict=verdict, config=config
            )
        guarded_ms.append(_runs(per_round) / per_round * 1000)
        Policy.objects.all().delete()
    total = per_round * ROUNDS
    guarded, bare = sum(guarded_ms) * per_round / 1000, sum(bare_ms) * per_round / 1000
    print(
        f"guardrails: {total} runs x {STEPS} agent steps; with {len(POLICIES)} policies "
        f"{guarded / total * 1000:.2f} ms/run vs none {bare / total * 1000:.2f} ms/run "
        f"(ratio {guarded / bare:.3f})"
    )
    bench = harness.Benchmark(
        "guardrails",
        f"guardrails: {total} runs x {STEPS} in-process agent steps, {len(POLICIES)} policies",
        settings={"runs": RUNS, "steps": STEPS, "rounds": ROUNDS},
    )
    bench.rounds, bench.order = ROUNDS, ["comparator", "ours"] * ROUNDS
    bench.add(
        harness.Measure(
            f"time per run, {len(POLICIES)} policies",
            "ms",
            ours=harness.percentile(guarded_ms, 50),
            comparator=harness.percentile(bare_ms, 50),
            comparator_label="no policy",
            # Guarding every step, model call and answer must stay well under doubling a run.
            target=harness.Target("ratio", "<=", 1.8),
            ours_samples=guarded_ms,
            comparator_samples=bare_ms,
        )
    )
    bench.save()
