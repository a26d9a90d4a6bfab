"""What a /metrics scrape and the control-room home cost on a large step table, against one
plain full scan of that table (``SELECT count(*) FROM flows_step``) measured in the same run.

SYNTHETIC DATA: the rows come from the ROI benchmark's SQL seeding (``tests.support.roi_seed``),
not from running flows, with the rollups the seeding builds. The scrape reads what only grows
from the rollups (plus unfolded facts) and what is in flight through the status indexes
(``flows.engine_metrics``), so on a large table it must cost less than one plain scan of it.
The home page reads indexed aggregates and the rollups; its time is reported beside them
(compare it across sizes: it should not grow with the table).

Sizes: ``BENCH_OBS_STEPS`` (comma-separated, default ``1000000``). Results are printed and
appended to ``.data/bench/observability.md``.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.db import connection
from django.test import Client
from django.utils import timezone

from controlroom.accounts import user_ensure
from controlroom.roles import Role
from tests.bench import harness
from tests.support.roi_seed import seed

# committed rows: VACUUM ANALYZE cannot run inside the test's transaction
pytestmark = pytest.mark.django_db(transaction=True)

SIZES = [int(x) for x in os.environ.get("BENCH_OBS_STEPS", "1000000").split(",") if x]
REPEATS = 5


def _median_ms(action: Callable[[], Any], repeats: int = REPEATS) -> float:
    timings = []
    for _ in range(repeats):
        started = time.perf_counter()
        action()
        timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings)


def _full_scan() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM flows_step")
        return int(cursor.fetchone()[0])


@pytest.mark.parametrize("steps", SIZES)
def test_scrape_and_home_against_one_full_scan(steps: int) -> None:
    started = time.perf_counter()
    seed(steps=steps, today=timezone.now().date())
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE flows_step")
        cursor.execute("VACUUM ANALYZE flows_run")
    seed_s = time.perf_counter() - started
    assert _full_scan() >= steps - 5
    scraper = Client()
    home = Client()
    home.force_login(user_ensure(username="bench-viewer", role=Role.VIEWER))
    scrape = scraper.get("/metrics")
    assert (
        scrape.status_code == 200 and b"controlroom_step_duration_seconds_bucket" in scrape.content
    )
    assert home.get("/").status_code == 200

    scan_ms = _median_ms(_full_scan)
    rows = [
        ("one full scan of flows_step (comparator)", scan_ms),
        ("/metrics scrape", _median_ms(lambda: scraper.get("/metrics"))),
        ("control-room home page", _median_ms(lambda: home.get("/"))),
    ]
    table = ["| measure | median ms | ÷ one scan |", "|---|---:|---:|"]
    table += [f"| {name} | {ms:.1f} | {ms / scan_ms:.2f} |" for name, ms in rows]
    report = "\n".join(table)
    print(f"\n{steps:,} synthetic steps (seeded in {seed_s:.0f} s)\n{report}")
    out = Path(settings.BASE_DIR) / ".data" / "bench"
    out.mkdir(parents=True, exist_ok=True)
    with (out / "observability.md").open("a") as handle:
        handle.write(f"\n{time.strftime('%Y-%m-%d %H:%M')} — {steps:,} steps\n{report}\n")
    bench = harness.Benchmark(
        harness.sized("observability", steps),
        f"/metrics and the home page on {steps:,} synthetic steps vs one full scan",
        settings={"steps": steps, "repeats": REPEATS, "seed_seconds": round(seed_s, 1)},
    )
    # The scrape does not pay for the size of the step table.
    targets = {"/metrics scrape": harness.Target("ratio", "<=", 1.0)}
    for name, ms in rows[1:]:
        bench.add(
            harness.Measure(
                name,
                "ms",
                ours=ms,
                comparator=scan_ms,
                comparator_label="one full scan",
                target=targets.get(name),
            )
        )
    bench.notes.append("medians of repeated calls; SYNTHETIC rows seeded with SQL")
    bench.save()
