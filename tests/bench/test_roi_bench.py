"""ROI dashboard server time on rollups against a naive aggregate over the raw step table,
measured in the same run.

SYNTHETIC DATA: unlike every other test, this benchmark seeds rows directly with SQL
(``generate_series``), because pushing millions of steps through workers would take hours:
one flow, three versions, 90 days, runs of five steps (two agent steps with tokens and cost,
an approval, a tool call, an end). The rollups are built from the same seeded rows by one
grouped INSERT with the engine's bucket bounds (the shape ``flows.roi.rollups`` folds facts
into). Before timing, the dashboard's counts and sums are checked against the naive
aggregate, so both sides answer the same question.

Sizes: ``BENCH_ROI_STEPS`` (comma-separated, default ``1000000``; the README also reports
``10000000``). Results are
printed and appended to ``.data/bench/roi.md``. ``tests/flows/roi/test_bench_seed.py`` runs
the same seeding and the same equality check at a smoke size inside ``make test``.
"""

from __future__ import annotations

import os
import statistics
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import transaction
from django.test import Client
from django.utils import timezone

from controlroom.accounts import user_ensure
from controlroom.roles import Role
from flows.engine import runs
from flows.models import RunEvent, Step
from flows.roi.facts import fact_step_finished
from flows.roi.selectors import flow_dashboard
from tests.bench import harness
from tests.support.flows import document, node, save, scripted
from tests.support.roi_seed import Seeded, naive_dashboard, seed

# committed rows: timings on an open transaction's rows (no hint bits) would be skewed
pytestmark = pytest.mark.django_db(transaction=True)

# 10 M too with BENCH_ROI_STEPS=1000000,10000000 (seeding it alone takes minutes: not by default).
SIZES = [int(x) for x in os.environ.get("BENCH_ROI_STEPS", "1000000").split(",") if x]
REPEATS = 5


def _median_ms(action: object, repeats: int = REPEATS) -> float:
    timings = []
    for _ in range(repeats):
        started = time.perf_counter()
        action()  # type: ignore[operator]
        timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings)


def _measure(seeded: Seeded) -> list[tuple[str, float]]:
    flow, since, until = seeded.flow, seeded.since, seeded.until
    board = flow_dashboard(flow=flow, since=since, until=until)
    naive = naive_dashboard(flow_id=flow.id, since=since, until=until)
    seeded.check(board, naive)
    client = Client()
    client.force_login(user_ensure(username="bench-viewer", role=Role.VIEWER))
    url = f"/flows/{flow.slug}/roi/?since={since}&until={until}"
    assert client.get(url).status_code == 200
    selector_ms = _median_ms(lambda: flow_dashboard(flow=flow, since=since, until=until))
    view_ms = _median_ms(lambda: client.get(url))
    naive_ms = _median_ms(
        lambda: naive_dashboard(flow_id=flow.id, since=since, until=until), repeats=3
    )
    return [
        ("dashboard selectors on rollups", selector_ms),
        ("dashboard page (view + template)", view_ms),
        ("naive aggregate over raw steps", naive_ms),
    ]


@pytest.mark.timeout(3600)  # seeding 10 M steps alone takes minutes on two cores
@pytest.mark.parametrize("steps", SIZES)
def test_dashboard_on_rollups_against_a_naive_aggregate(steps: int) -> None:
    started = time.perf_counter()
    seeded = seed(steps=steps, today=timezone.now().date())
    seed_s = time.perf_counter() - started
    rows = _measure(seeded)
    naive_ms = rows[-1][1]
    table = ["| measure | median ms | naive ÷ this |", "|---|---:|---:|"]
    table += [f"| {name} | {ms:.1f} | {naive_ms / ms:.0f}x |" for name, ms in rows]
    report = "\n".join(table)
    print(
        f"\n{steps:,} synthetic steps ({steps // 5:,} runs, {seeded.rollup_rows:,} rollup rows, "
        f"seeded in {seed_s:.0f} s)\n{report}"
    )
    out = Path(settings.BASE_DIR) / ".data" / "bench"
    out.mkdir(parents=True, exist_ok=True)
    with (out / "roi.md").open("a") as handle:
        handle.write(f"\n{time.strftime('%Y-%m-%d %H:%M')} — {steps:,} steps\n{report}\n")
    bench = harness.Benchmark(
        harness.sized("roi_dashboard", steps),
        f"ROI dashboard on {steps:,} synthetic steps vs a naive aggregate over the raw table",
        settings={"steps": steps, "repeats": REPEATS, "seed_seconds": round(seed_s, 1)},
    )
    for name, ms in rows[:2]:
        bench.add(
            harness.Measure(
                name,
                "ms",
                ours=ms,
                comparator=naive_ms,
                comparator_label="naive aggregate",
                target=harness.Target("ratio", "<=", 1.0),  # rollups beat scanning raw rows
            )
        )
    bench.notes.append("medians of repeated calls; SYNTHETIC rows seeded with SQL")
    bench.save()


HOOK_CALLS = int(os.environ.get("BENCH_ROI_HOOK_CALLS", "3000"))


def test_recording_a_step_fact_costs_about_one_history_row() -> None:
    """The hot-path price of the rollups: recording an agent step's facts (one multi-row INSERT
    plus the read of its tool calls) against the engine's own history row for the same
    transition (one ``RunEvent`` INSERT). Both run inside a transaction that is already open,
    as in the engine, so neither pays a commit of its own."""
    flow = save(
        document("bench-hook", [node("a", "agent", agent="w")], [], agents=[scripted("w", "ok")])
    )
    run, _ = runs.run_start(flow=flow, input={})
    step = Step.objects.get(run=run)
    step.status = "succeeded"
    step.started_at = step.finished_at = timezone.now()
    step.tokens_in, step.tokens_out, step.model = 120, 40, "scripted-1"
    step.input = {"agent_spec": {"slug": "w"}}

    def record_fact() -> None:
        fact_step_finished(step)

    def record_event() -> None:
        RunEvent.objects.create(run=run, step=step, kind="step.moved", to_status="succeeded")

    timings = {}
    for name, action in (("history row", record_event), ("ROI facts", record_fact)) * 2:
        with transaction.atomic():
            started = time.perf_counter()
            for _ in range(HOOK_CALLS):
                action()
            timings[name] = (time.perf_counter() - started) / HOOK_CALLS * 1e6
    ratio = timings["ROI facts"] / timings["history row"]
    report = (
        "| measure | µs per step |\n|---|---:|\n"
        f"| RunEvent insert (comparator) | {timings['history row']:.0f} |\n"
        f"| ROI facts of an agent step | {timings['ROI facts']:.0f} |\n"
        f"| facts ÷ history row | {ratio:.2f} |"
    )
    print(f"\n{HOOK_CALLS} calls each, inside one open transaction\n{report}")
    out = Path(settings.BASE_DIR) / ".data" / "bench"
    out.mkdir(parents=True, exist_ok=True)
    with (out / "roi.md").open("a") as handle:
        handle.write(f"\n{time.strftime('%Y-%m-%d %H:%M')} — fact recording\n{report}\n")
    bench = harness.Benchmark(
        "roi_facts",
        f"ROI facts on the hot path: {HOOK_CALLS} calls each, inside one open transaction",
        settings={"calls": HOOK_CALLS},
    )
    bench.add(
        harness.Measure(
            "ROI facts of an agent step",
            "µs",
            ours=timings["ROI facts"],
            comparator=timings["history row"],
            comparator_label="one RunEvent insert",
            # The facts must stay in the same class as the history the engine writes.
            target=harness.Target("ratio", "<=", 10),
        )
    )
    bench.save()
