"""Our 5-step flow against n8n's 5-node workflow of the same shape, side by side.

`make bench-peers` runs ``bench/peers/n8n/install.sh`` first (a pinned n8n from npm, into a
git-ignored folder); this module fails, saying so, when n8n is not installed. `make bench`
does not run it.

n8n (``bench/peers/n8n/workflow.json``): a Webhook trigger answering when the last node has
run (``responseMode: lastNode``) → five Set nodes in a row; default settings (regular
execution mode in the main process, SQLite, every execution saved), its own data directory,
loopback only. It is imported and published with n8n's CLI before it starts. An execution
counts when its HTTP response arrives.

Ours: a flow with a webhook trigger → five scripted agent steps in a row (the offline model
answers at once), on `make run`-shaped workers (steps x2, control x1, beat) and uvicorn; the
signed webhooks are accepted at once (202) and a run counts when it has succeeded.

Both sides get the same ``BENCH_PEER_RUNS`` executions from the same client at
``BENCH_PEER_CONCURRENCY`` connections; executions per second from the first request to the
last completion. A 503 (or 429/502/504) is retried as a webhook sender would, and the retries
are counted in the JSON. Alternating rounds (``BENCH_PEER_ROUNDS``): n8n, ours, n8n, ours…
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from controlroom import devstack
from flows.models import Run
from flows.triggers import signing, webhooks
from tests.bench import harness
from tests.support import stack
from tests.support.flows import document, node, save_live, scripted
from tests.support.wait import wait_for

# committed rows: the web server and the workers read the flow through their own connections
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(1800)]

PEER_DIR = stack.REPO_ROOT / "bench" / "peers" / "n8n"
INSTALL = PEER_DIR / ".install"
N8N = INSTALL / "node_modules" / ".bin" / "n8n"
WORKFLOW = PEER_DIR / "workflow.json"
RUNS = harness.int_knob("BENCH_PEER_RUNS", 200)
ROUNDS = harness.int_knob("BENCH_PEER_ROUNDS", 3)
CONCURRENCY = harness.int_knob("BENCH_PEER_CONCURRENCY", 16)
STEPS = 5
Request = Callable[[int], tuple[str, bytes, dict[str, str]]]


class N8n:
    """One n8n of this test's, on loopback ports, with its data under ``home``."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.port = devstack.free_port()
        self.log_path = home / "n8n.log"
        self.popen: subprocess.Popen[bytes] | None = None

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("N8N_", "DB_"))}
        pinned_node = INSTALL / "node" / "node_modules" / ".bin"  # install.sh's, if it made one
        if pinned_node.is_dir():
            env["PATH"] = f"{pinned_node}:{env.get('PATH', '')}"
        env.update(
            N8N_USER_FOLDER=str(self.home),
            N8N_LISTEN_ADDRESS=devstack.LOOPBACK,
            N8N_HOST=devstack.LOOPBACK,
            N8N_PORT=str(self.port),
            N8N_RUNNERS_BROKER_PORT=str(devstack.free_port()),
            N8N_DIAGNOSTICS_ENABLED="false",
            N8N_VERSION_NOTIFICATIONS_ENABLED="false",
            N8N_TEMPLATES_ENABLED="false",
            N8N_PERSONALIZATION_ENABLED="false",
            N8N_SECURE_COOKIE="false",
        )
        return env

    @property
    def hook_url(self) -> str:
        path = json.loads(WORKFLOW.read_text())["nodes"][0]["parameters"]["path"]
        return f"http://{devstack.LOOPBACK}:{self.port}/webhook/{path}"

    def _cli(self, *args: str) -> None:
        with self.log_path.open("ab") as log:
            subprocess.run(
                [str(N8N), *args], env=self.env(), stdout=log, stderr=subprocess.STDOUT,
                check=True, timeout=600,
            )  # fmt: skip

    def start(self) -> None:
        workflow = json.loads(WORKFLOW.read_text())
        self._cli("import:workflow", f"--input={WORKFLOW}")
        self._cli("publish:workflow", f"--id={workflow['id']}")
        with self.log_path.open("ab") as log:
            self.popen = subprocess.Popen(
                [str(N8N), "start"], env=self.env(), stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True,
                preexec_fn=devstack.die_with_parent,
            )  # fmt: skip
        wait_for(self._ready, timeout=300, interval=0.5, message="n8n to activate the workflow")

    def _ready(self) -> bool:
        assert self.popen is not None and self.popen.poll() is None, self.log_tail()
        return "Activated workflow" in self.log_path.read_text(errors="replace")

    def log_tail(self) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-40:])

    def version(self) -> str:
        package = INSTALL / "node_modules" / "n8n" / "package.json"
        return str(json.loads(package.read_text())["version"])

    def stop(self) -> None:
        """SIGINT (n8n's own graceful stop), then SIGKILL its process group if it lingers."""
        if self.popen is None:
            return
        if self.popen.poll() is None:
            os.kill(self.popen.pid, signal.SIGINT)
            try:
                self.popen.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait()
        self.popen = None


@pytest.fixture
def n8n(process_env: dict[str, str], tmp_path: Path) -> Iterator[N8n]:
    if not N8N.exists():
        pytest.fail(f"n8n is not installed: run {PEER_DIR / 'install.sh'} (make bench-peers does)")
    peer = N8n(tmp_path / "n8n")
    peer.home.mkdir()
    try:
        peer.start()
        yield peer
    finally:
        peer.stop()


#: Answers a sender retries (the same request again: the event id makes it one event).
RETRIED = {429, 502, 503, 504}
RETRIES: dict[str, int] = {"ours": 0, "n8n": 0}


async def _post_all(count: int, request: Request, side: str) -> float:
    """Send ``count`` requests over ``CONCURRENCY`` connections, each the next one as soon as
    the last was answered, as a webhook sender would: a 503 (or 429/502/504, or a dropped
    connection) is retried after 50 ms and counted in ``RETRIES``. Seconds until the last
    answer; every request must end in a 2xx."""
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    numbers = iter(range(count))
    async with httpx.AsyncClient(limits=limits, timeout=120.0) as client:

        async def send(n: int) -> None:
            url, body, headers = request(n)
            for _ in range(200):
                try:
                    response = await client.post(url, content=body, headers=headers)
                except httpx.TransportError:
                    response = None
                if response is not None and response.status_code not in RETRIED:
                    assert response.is_success, (response.status_code, response.text[:300])
                    return
                RETRIES[side] += 1
                await asyncio.sleep(0.05)
            raise AssertionError(f"request {n} to {url} kept failing")

        async def worker() -> None:
            for n in numbers:
                await send(n)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
        return time.perf_counter() - started


def n8n_round(peer: N8n) -> float:
    def request(n: int) -> tuple[str, bytes, dict[str, str]]:
        body = json.dumps({"email": f"lead{n}@bench.test", "n": n}).encode()
        return peer.hook_url, body, {"Content-Type": "application/json"}

    return RUNS / harness.in_thread(lambda: asyncio.run(_post_all(RUNS, request, "n8n")))


def ours_round(flow: object, secret: str, url: str, tag: str) -> float:
    def request(n: int) -> tuple[str, bytes, dict[str, str]]:
        # The event id in the body too: the same signed body and t would be a replay.
        body = json.dumps({"email": f"lead{n}@bench.test", "n": n, "id": f"{tag}-{n}"}).encode()
        headers = {
            "Content-Type": "application/json",
            signing.HEADER: signing.sign(secret, body, int(time.time())),
            "X-Event-Id": f"{tag}-{n}",
        }
        return url, body, headers

    started = time.time()
    harness.in_thread(lambda: asyncio.run(_post_all(RUNS, request, "ours")))
    runs = Run.objects.filter(flow=flow, idempotency_key__startswith=f"hook:{tag}-")
    wait_for(
        lambda: runs.filter(finished_at__isnull=False).count() >= RUNS,
        timeout=900,
        interval=0.1,
        message=f"{RUNS} webhook runs to finish",
    )
    statuses = set(runs.values_list("status", flat=True))
    assert statuses == {"succeeded"}, statuses
    last = max(stamp.timestamp() for stamp in runs.values_list("finished_at", flat=True))
    return RUNS / (last - started)


def test_five_step_executions_against_n8n(
    engine_stack: object,
    n8n: N8n,
    process_env: dict[str, str],
    process_log_dir: Path,
    managed_processes: list[stack.ManagedProcess],
) -> None:
    flow = save_live(
        document(
            "bench-peer",
            [node(f"s{i}", "agent", agent="fast") for i in range(STEPS)],
            [(f"s{i}", f"s{i + 1}") for i in range(STEPS - 1)],
            agents=[scripted("fast", "ok")],
            trigger={"type": "webhook"},
        )
    )
    secret = webhooks.webhook_secret_issue(flow=flow).value
    server = stack.start_asgi_server(
        env=process_env, log_dir=process_log_dir, register=managed_processes
    )
    url = f"{server.url}/api/hooks/flows/{flow.slug}"
    ours_round(flow, secret, url, "warm")  # warm both sides
    n8n_round(n8n)
    rounds = harness.alternate(
        ROUNDS,
        lambda _: n8n_round(n8n),
        lambda i: ours_round(flow, secret, url, f"r{i}"),
    )
    bench = harness.Benchmark(
        "peers_n8n",
        f"{STEPS}-step executions/s: ours vs n8n {n8n.version()}, {RUNS} webhook executions "
        f"per round at {CONCURRENCY} connections",
        settings={
            "runs": RUNS,
            "rounds": ROUNDS,
            "concurrency": CONCURRENCY,
            "n8n": n8n.version(),
            "node": subprocess.run(
                ["node", "-v"], env=n8n.env(), capture_output=True, text=True, check=False
            ).stdout.strip(),
        },
    )
    bench.rounds, bench.order = rounds.count, rounds.order
    bench.extra["retried_requests"] = dict(RETRIES)
    bench.add(
        harness.Measure(
            f"{STEPS}-step executions/s (webhook → done)",
            "/s",
            ours=harness.percentile(rounds.ours, 50),
            comparator=harness.percentile(rounds.comparator, 50),
            comparator_label=f"n8n {n8n.version()}",
            ours_samples=rounds.ours,
            comparator_samples=rounds.comparator,
        )
    )
    bench.save()
