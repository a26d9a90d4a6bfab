"""Engine throughput against the raw cost of a Celery hop, measured in the same run.

Seeds nothing synthetic: every run goes through the engine on real worker processes. The
comparator is the same number of hops as bare Celery tasks (`controlroom.echo`) on the same
workers, so the ratio, not the absolute number, is what carries across noisy machines.
Run with `make bench`; results are printed and appended to `.data/bench/throughput.md`.
"""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path

import pytest
import redis
from django.conf import settings

from controlroom.tasks import echo_task
from flows.engine import runs
from flows.models import Run
from tests.support.flows import document, node, save, scripted
from tests.support.wait import wait_for

# committed rows: the runs execute on real worker processes with their own connections
pytestmark = pytest.mark.django_db(transaction=True)

RUNS = int(os.environ.get("BENCH_RUNS", "200"))
STEPS = 5


def _chain_flow() -> dict:
    return document(
        "bench-chain",
        [node(f"s{i}", "agent", agent="fast") for i in range(STEPS)],
        [(f"s{i}", f"s{i + 1}") for i in range(STEPS - 1)],
        agents=[scripted("fast", "ok")],
    )


def _raw_hops(count: int) -> float:
    marker = uuid.uuid4().hex
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    started = time.perf_counter()
    for _ in range(count):
        echo_task.delay(marker)
    wait_for(
        lambda: int(client.get(f"echo:{marker}") or 0) >= count,
        timeout=600,
        interval=0.05,
        message="echo tasks",
    )
    return time.perf_counter() - started


def _engine(count: int) -> float:
    flow = save(_chain_flow())
    started = time.perf_counter()
    for _ in range(count):
        runs.run_start(flow=flow, input={})
    wait_for(
        lambda: Run.objects.filter(flow=flow, status="succeeded").count() >= count,
        timeout=900,
        interval=0.2,
        message="bench runs",
    )
    elapsed = time.perf_counter() - started
    assert not Run.objects.filter(flow=flow, status="failed").exists()
    return elapsed


def test_engine_throughput_against_raw_celery_hops(celery_worker_factory, celery_beat):
    celery_worker_factory(concurrency=2)
    _raw_hops(50)  # warm the pool
    hop_seconds = _raw_hops(RUNS * STEPS)
    engine_seconds = _engine(RUNS)
    rows = [
        ("raw Celery hops", RUNS * STEPS / hop_seconds, "hops/s"),
        (f"{STEPS}-step flows", RUNS / engine_seconds, "flows/s"),
        (f"{STEPS}-step flows, steps", RUNS * STEPS / engine_seconds, "steps/s"),
    ]
    ratio = (RUNS * STEPS / engine_seconds) / (RUNS * STEPS / hop_seconds)
    table = ["| measure | value | unit |", "|---|---:|---|"]
    table += [f"| {name} | {value:.1f} | {unit} |" for name, value, unit in rows]
    table.append(f"| engine steps/s ÷ raw hops/s | {ratio:.2f} | ratio |")
    report = "\n".join(table)
    print(f"\n{RUNS} runs x {STEPS} steps, 1 worker x 2 processes\n{report}")
    out = Path(settings.BASE_DIR) / ".data" / "bench"
    out.mkdir(parents=True, exist_ok=True)
    with (out / "throughput.md").open("a") as handle:
        handle.write(f"\n{time.strftime('%Y-%m-%d %H:%M')} — {RUNS} runs\n{report}\n")
    assert ratio > 0.05  # the engine's bookkeeping must not dwarf the hop itself
