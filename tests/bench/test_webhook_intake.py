"""Webhook intake: signed webhook POSTs against an insert-only endpoint, same server kind.

Subject: ``POST /api/hooks/flows/<slug>`` on uvicorn serving ``controlroom.asgi`` — every
request signed (HMAC, fresh timestamp), with its own event id, each accepted as a new run of
a 5-step flow whose first step is queued for the batched dispatcher (no worker or beat runs
here: this measures intake only). Comparator: ``POST /intake`` on a second uvicorn serving
the same ASGI application and middleware with a URLconf of one view that inserts the body as
one row (``tests/bench/intake``). Both are driven by the same client: ``BENCH_WEBHOOK_
CONCURRENCY`` (16) connections kept alive, each sending its next request when the last is
answered, for ``BENCH_WEBHOOK_SECONDS`` per round, alternating rounds. The client (httpx,
asyncio) runs in this process on the same 2 cores: it caps both sides alike.
Targets: req/s ≥ 0.8x the insert-only endpoint's; p99 ≤ 50 ms.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from django.db import connection

from flows.triggers import signing, webhooks
from tests.bench import harness
from tests.bench.intake.urls import CREATE, DROP
from tests.support import stack
from tests.support.flows import document, node, save_live, scripted

# committed rows: the web servers read the flow and secret through their own connections
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(900)]

SECONDS = harness.knob("BENCH_WEBHOOK_SECONDS", 5.0)
ROUNDS = harness.int_knob("BENCH_WEBHOOK_ROUNDS", 3)
CONCURRENCY = harness.int_knob("BENCH_WEBHOOK_CONCURRENCY", 16)


@dataclass
class Load:
    """One round's outcome: the latency of every answered request, and what failed."""

    seconds: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    client_cpu_s: float = 0.0

    @property
    def rate(self) -> float:
        return len(self.latencies_ms) / self.seconds if self.seconds else 0.0


Request = Callable[[int], tuple[bytes, dict[str, str]]]


async def _drive(url: str, request: Request, seconds: float) -> Load:
    load = Load()
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    counter = iter(range(10**9))
    async with httpx.AsyncClient(limits=limits, timeout=30.0) as client:

        async def worker(deadline: float) -> None:
            while time.perf_counter() < deadline:
                body, headers = request(next(counter))
                started = time.perf_counter()
                try:
                    response = await client.post(url, content=body, headers=headers)
                except httpx.HTTPError as exc:
                    key = type(exc).__name__
                    load.errors[key] = load.errors.get(key, 0) + 1
                    continue
                if response.status_code in (200, 201, 202):
                    load.latencies_ms.append((time.perf_counter() - started) * 1000)
                else:
                    key = str(response.status_code)
                    load.errors[key] = load.errors.get(key, 0) + 1

        cpu = time.process_time()
        started = time.perf_counter()
        deadline = started + seconds
        await asyncio.gather(*(worker(deadline) for _ in range(CONCURRENCY)))
        load.seconds = time.perf_counter() - started
        load.client_cpu_s = time.process_time() - cpu
    return load


def drive(url: str, request: Request, seconds: float) -> Load:
    """The load, on an event loop of its own in a thread of its own (the test thread may
    already run one: Playwright's, when a browser benchmark ran earlier in the session)."""
    return harness.in_thread(lambda: asyncio.run(_drive(url, request, seconds)))


def _signed(secret: str, tag: str) -> Request:
    def request(n: int) -> tuple[bytes, dict[str, str]]:
        # The event id in the body too: the same signed body and t would be a replay.
        body = json.dumps({"email": f"lead{n}@bench.test", "n": n, "id": f"{tag}-{n}"}).encode()
        return body, {
            "Content-Type": "application/json",
            signing.HEADER: signing.sign(secret, body, int(time.time())),
            "X-Event-Id": f"{tag}-{n}",
        }

    return request


def _plain(n: int) -> tuple[bytes, dict[str, str]]:
    body = json.dumps({"email": f"lead{n}@bench.test", "n": n}).encode()
    return body, {"Content-Type": "application/json"}


def test_webhook_intake_against_an_insert_only_endpoint(
    process_env: dict[str, str],
    process_log_dir: Path,
    managed_processes: list[stack.ManagedProcess],
) -> None:
    flow = save_live(
        document(
            "bench-hook",
            [node(f"s{i}", "agent", agent="fast") for i in range(5)],
            [(f"s{i}", f"s{i + 1}") for i in range(4)],
            agents=[scripted("fast", "ok")],
            trigger={"type": "webhook"},
        )
    )
    secret = webhooks.webhook_secret_issue(flow=flow).value
    with connection.cursor() as cursor:
        cursor.execute(CREATE)
    try:
        ours_server = stack.start_asgi_server(
            env=process_env, log_dir=process_log_dir / "hooks", register=managed_processes
        )
        insert_env = {**process_env, "DJANGO_SETTINGS_MODULE": "tests.bench.intake.settings"}
        insert_server = stack.start_asgi_server(
            env=insert_env, log_dir=process_log_dir / "intake", register=managed_processes
        )
        hook_url = f"{ours_server.url}/api/hooks/flows/{flow.slug}"
        insert_url = f"{insert_server.url}/intake"
        warm = min(1.0, SECONDS)
        drive(insert_url, _plain, warm)
        drive(hook_url, _signed(secret, "warm"), warm)
        loads: dict[str, list[Load]] = {"ours": [], "comparator": []}

        def comparator(i: int) -> float:
            loads["comparator"].append(drive(insert_url, _plain, SECONDS))
            return loads["comparator"][-1].rate

        def ours(i: int) -> float:
            loads["ours"].append(drive(hook_url, _signed(secret, f"r{i}"), SECONDS))
            return loads["ours"][-1].rate

        rounds = harness.alternate(ROUNDS, comparator, ours)
    finally:
        with connection.cursor() as cursor:
            cursor.execute(DROP)
    bench = harness.Benchmark(
        "webhook_intake",
        f"webhook intake: signed webhooks vs an insert-only endpoint, {CONCURRENCY} connections",
        settings={"seconds_per_round": SECONDS, "rounds": ROUNDS, "concurrency": CONCURRENCY},
    )
    bench.rounds, bench.order = rounds.count, rounds.order
    latency = {side: [ms for load in loads[side] for ms in load.latencies_ms] for side in loads}
    bench.add(
        harness.Measure(
            "requests/s",
            "/s",
            ours=harness.percentile(rounds.ours, 50),
            comparator=harness.percentile(rounds.comparator, 50),
            comparator_label="insert-only view",
            target=harness.Target("ratio", ">=", 0.8),
            ours_samples=rounds.ours,
            comparator_samples=rounds.comparator,
        )
    )
    for q in (50, 99):
        bench.add(
            harness.Measure(
                f"p{q} latency",
                "ms",
                ours=harness.percentile(latency["ours"], q),
                comparator=harness.percentile(latency["comparator"], q),
                comparator_label="insert-only view",
                target=harness.Target("ours", "<=", 50, "ms") if q == 99 else None,
                ours_samples=latency["ours"],
                comparator_samples=latency["comparator"],
            )
        )
    failed = {side: sum(sum(load.errors.values()) for load in loads[side]) for side in loads}
    bench.add(
        harness.Measure(
            "requests refused or failed",
            "",
            ours=failed["ours"],
            comparator=failed["comparator"],
            comparator_label="insert-only view",
            target=harness.Target("ours", "<=", 0),
            note="non-2xx answers and transport errors, all rounds (kinds in the JSON)",
        )
    )
    for side, side_loads in loads.items():
        bench.extra[side] = {
            "errors": [load.errors for load in side_loads],
            "client_cpu_share_of_one_core": [
                round(load.client_cpu_s / load.seconds, 3) for load in side_loads
            ],
        }
    bench.save()
    assert rounds.ours and min(rounds.ours) > 0, "no webhook was accepted"
