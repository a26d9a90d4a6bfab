"""What the audit log costs the engine's hot path, as ratios measured in the same run.

A run of ``STEPS`` in-process queued-agent steps (``drive``: claim, execute, complete) with
every transition audited, against the same run with the audit hook switched off; plus the
cost of one ``audit_record`` against one ``RunEvent`` insert (the history row every
transition writes anyway), and how fast the sealer chains what the engine wrote. Seeds no
synthetic run: every step goes through the engine. Run with ``make bench`` (``BENCH_RUNS``).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

import pytest
from django.db import transaction

from agents.audit import audit_record, audit_seal, audit_verify
from agents.models import AuditEvent
from flows.engine import runs, transitions
from flows.models import RunEvent
from tests.bench import harness
from tests.support.flows import document, drive, node, save, scripted

# committed rows: the timed engine transactions must really commit, as in production
pytestmark = pytest.mark.django_db(transaction=True)

RUNS = int(os.environ.get("BENCH_RUNS", "40"))
STEPS = 5
ROUNDS = 4
INSERTS = RUNS * 50


def _runs(count: int) -> float:
    flow = save(
        document(
            f"bench-audit-{time.monotonic_ns()}",
            [node(f"s{i}", "agent", agent="fast") for i in range(STEPS)],
            [(f"s{i}", f"s{i + 1}") for i in range(STEPS - 1)],
            agents=[scripted("fast", "ok")],
        )
    )
    started = time.perf_counter()
    for _ in range(count):
        run, _ = runs.run_start(flow=flow, input={})
        assert drive(run).status == "succeeded"
    return time.perf_counter() - started


def _inserts(count: int, insert: Callable[[int], object]) -> float:
    """The marginal cost of one row inside a transaction (where the engine writes it)."""
    started = time.perf_counter()
    with transaction.atomic():
        for n in range(count):
            insert(n)
    return time.perf_counter() - started


def test_audit_cost_per_transition(monkeypatch: pytest.MonkeyPatch) -> None:
    _runs(3)  # warm caches and connections
    transitions_per_run = AuditEvent.objects.count() / 3
    # Alternating rounds, so a neighbour's load on the shared machine hits both sides alike.
    per_round = max(RUNS // ROUNDS, 1)
    audited_ms: list[float] = []
    bare_ms: list[float] = []
    for _ in range(ROUNDS):
        with monkeypatch.context() as patch:
            patch.setattr(transitions, "_audit", lambda *args, **kwargs: None)
            bare_ms.append(_runs(per_round) / per_round * 1000)
        audited_ms.append(_runs(per_round) / per_round * 1000)
    audited, bare = sum(audited_ms) * per_round / 1000, sum(bare_ms) * per_round / 1000
    run, _ = runs.run_start(flow=save(document("bench-ref", [node("a", "end")], [])), input={})
    audit_cost = _inserts(
        INSERTS,
        lambda n: audit_record(
            kind="transition",
            action="step.moved",
            run_id=run.id,
            step_id=n,
            flow_slug="bench",
            data={"from": "running", "to": "succeeded", "node": "s1"},
        ),
    )
    event_cost = _inserts(
        INSERTS,
        lambda n: RunEvent.objects.create(
            run=run, kind="step.moved", from_status="running", to_status="succeeded"
        ),
    )
    pending = AuditEvent.objects.filter(seq__isnull=True).count()
    started = time.perf_counter()
    sealed = audit_seal()
    seal_seconds = time.perf_counter() - started
    assert sealed == pending
    assert audit_verify(seal_first=False, record=False).ok
    report = (
        f"audit: {RUNS} runs x {STEPS} steps, {transitions_per_run:.1f} audited transitions/run; "
        f"engine with audit {audited / (per_round * ROUNDS) * 1000:.2f} ms/run vs without "
        f"{bare / (per_round * ROUNDS) * 1000:.2f} ms/run (ratio {audited / bare:.3f}); "
        f"audit_record {audit_cost / INSERTS * 1e6:.0f} us vs RunEvent insert "
        f"{event_cost / INSERTS * 1e6:.0f} us (ratio {audit_cost / event_cost:.2f}); "
        f"sealer {sealed / seal_seconds:,.0f} rows/s"
    )
    print(report)
    bench = harness.Benchmark(
        "audit_cost",
        f"audit log on the hot path: {RUNS} runs x {STEPS} in-process agent steps",
        settings={"runs": RUNS, "steps": STEPS, "rounds": ROUNDS, "inserts": INSERTS},
    )
    bench.rounds, bench.order = ROUNDS, ["comparator", "ours"] * ROUNDS
    bench.add(
        harness.Measure(
            "time per run, audited",
            "ms",
            ours=harness.percentile(audited_ms, 50),
            comparator=harness.percentile(bare_ms, 50),
            comparator_label="audit switched off",
            ours_samples=audited_ms,
            comparator_samples=bare_ms,
            note=f"{transitions_per_run:.1f} audited transitions per run",
        )
    )
    bench.add(
        harness.Measure(
            "one audit row",
            "µs",
            ours=audit_cost / INSERTS * 1e6,
            comparator=event_cost / INSERTS * 1e6,
            comparator_label="one RunEvent insert",
        )
    )
    bench.add(harness.Measure("sealer", "rows/s", ours=sealed / seal_seconds))
    bench.save()
