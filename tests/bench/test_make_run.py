"""`make run` itself: start → first completed demo run, and the idle memory of the whole stack.

The supervisor (``python -m controlroom.supervisor``, what `make run` runs after building the
venv and assets) starts as a process of this test with its own data directory and port, and
nothing of the test session's: no ``DATABASE_URL``/``REDIS_URL`` (so its embedded PostgreSQL
and Redis start), no test settings or timings. A first start initialises the data directory
(PostgreSQL's initdb, migrations, the demo) and a token is issued; it is stopped with SIGINT.
Then, ``BENCH_MAKE_RUN_STARTS`` times, a second start on the initialised directory is timed
from spawning the supervisor until a demo run (the content pipeline, started through the API
as soon as the API answers) has succeeded; after ``BENCH_IDLE_SECONDS`` of idling, the RSS
of every process of the stack is summed: the supervisor and its descendants (uvicorn, both
Celery workers and their pool processes, beat, Redis) plus the embedded PostgreSQL, which
runs detached from the supervisor's tree (its postmaster and every backend). Shared pages
count once per process in RSS; the proportional set size (PSS) is recorded beside it.
Targets: first demo run ≤ 10 s after the start; idle RSS ≤ 600 MiB.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from controlroom import devstack
from tests.bench import harness
from tests.support.stack import REPO_ROOT
from tests.support.wait import wait_for

# The test session's own services are not used; `process_env` stops the shared stack so that
# its idle processes do not share the two cores with the stack being timed.
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(1200)]

STARTS = harness.int_knob("BENCH_MAKE_RUN_STARTS", 1)
IDLE_SECONDS = harness.knob("BENCH_IDLE_SECONDS", 20.0)
DEMO_FLOW = "content-pipeline"
MIB = 1024 * 1024


@dataclass
class Stack:
    """One `make run` supervisor of this test's, in a session of its own."""

    data_dir: Path
    port: int
    log_path: Path
    popen: subprocess.Popen[bytes] | None = None
    spawned_at: float = 0.0

    @property
    def url(self) -> str:
        return f"http://{devstack.LOOPBACK}:{self.port}"

    def env(self) -> dict[str, str]:
        """The caller's environment without anything the test session set for itself."""
        dropped = ("CONTROLROOM_", "DJANGO_", "DATABASE_URL", "REDIS_URL", "PYTEST")
        env = {key: value for key, value in os.environ.items() if not key.startswith(dropped)}
        env.update(PORT=str(self.port), CONTROLROOM_DATA_DIR=str(self.data_dir))
        return env

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.spawned_at = time.monotonic()
            self.popen = subprocess.Popen(
                [sys.executable, "-m", "controlroom.supervisor"],
                cwd=REPO_ROOT,
                env=self.env(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=devstack.die_with_parent,
            )

    def log_tail(self, lines: int = 40) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def wait_announced(self, timeout: float) -> None:
        def announced() -> bool:
            assert self.popen is not None and self.popen.poll() is None, self.log_tail()
            return "Ctrl-C stops everything" in self.log_path.read_text(errors="replace")

        wait_for(announced, timeout=timeout, interval=0.2, message="make run to announce itself")

    def processes(self) -> list[psutil.Process]:
        """The supervisor, its descendants, and the embedded PostgreSQL's processes."""
        assert self.popen is not None
        found: list[psutil.Process] = []
        try:
            root = psutil.Process(self.popen.pid)
            found = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []
        postmaster = self._postmaster()
        if postmaster is not None and postmaster.pid not in {p.pid for p in found}:
            found += [postmaster, *postmaster.children(recursive=True)]
        return found

    def _postmaster(self) -> psutil.Process | None:
        pid_file = self.data_dir / "pg" / "postmaster.pid"
        try:
            return psutil.Process(int(pid_file.read_text().split()[0]))
        except (OSError, ValueError, IndexError, psutil.NoSuchProcess):
            return None

    def stop(self, timeout: float = 90.0) -> None:
        """SIGINT the supervisor (Ctrl-C) and wait; SIGKILL what is left of its processes."""
        if self.popen is None:
            return
        leftovers = self.processes()
        if self.popen.poll() is None:
            os.kill(self.popen.pid, signal.SIGINT)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(timeout)
        for process in leftovers:
            if process.is_running() and process.status() != psutil.STATUS_ZOMBIE:
                process.kill()
        self.popen.wait()
        self.popen = None


def _rss(processes: list[psutil.Process]) -> tuple[int, int, dict[str, int]]:
    """Summed RSS and PSS in bytes, and RSS by process name."""
    rss = pss = 0
    by_name: dict[str, int] = {}
    for process in processes:
        try:
            memory = process.memory_full_info()
            name = process.name()
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        rss += memory.rss
        pss += getattr(memory, "pss", 0)
        by_name[name] = by_name.get(name, 0) + memory.rss
    return rss, pss, by_name


def _issue_token(stack: Stack) -> str:
    env = {**stack.env(), "DJANGO_SETTINGS_MODULE": "controlroom.settings.dev"}
    result = subprocess.run(
        [sys.executable, "manage.py", "issue_token", "bench-admin", "--role", "admin"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return result.stdout.strip().splitlines()[-1]


def _demo_input() -> dict[str, Any]:
    document = json.loads((REPO_ROOT / "flows" / "demo" / f"{DEMO_FLOW}.json").read_text())
    sample: dict[str, Any] = document.get("sample_input") or {}
    return sample


def _first_demo_run(stack: Stack, token: str, timeout: float = 300.0) -> dict[str, float]:
    """From the supervisor's spawn: when the API answered, and when a demo run started as soon
    as it did had succeeded (seconds)."""
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=stack.url, headers=headers, timeout=10.0) as client:

        def api_answers() -> bool:
            assert stack.popen is not None and stack.popen.poll() is None, stack.log_tail()
            try:
                return client.get(f"/api/flows/{DEMO_FLOW}").status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(api_answers, timeout=timeout, interval=0.05, message="the API")
        api_at = time.monotonic() - stack.spawned_at
        response = client.post(f"/api/flows/{DEMO_FLOW}/runs", json={"input": _demo_input()})
        assert response.status_code == 202, response.text
        run_id = response.json()["run_id"]

        def finished() -> str | None:
            status = str(client.get(f"/api/runs/{run_id}").json()["status"])
            return status if status in {"succeeded", "failed", "cancelled"} else None

        status = wait_for(finished, timeout=timeout, interval=0.05, message="the demo run")
        done_at = time.monotonic() - stack.spawned_at
    assert status == "succeeded", f"the demo run ended {status}"
    return {"api_answered_s": api_at, "first_run_succeeded_s": done_at}


@pytest.fixture
def make_run(process_env: dict[str, str], tmp_path: Path) -> Iterator[Stack]:
    # Not under pytest's tmp_path: run as root, the embedded PostgreSQL runs as a user of its
    # own, which must be able to reach its data directory (pytest's base is private to root).
    data_dir = Path(tempfile.mkdtemp(prefix="bench-make-run-"))
    data_dir.chmod(0o711)
    stack = Stack(data_dir=data_dir, port=devstack.free_port(), log_path=tmp_path / "make-run.log")
    try:
        yield stack
    finally:
        stack.stop()
        shutil.rmtree(data_dir, ignore_errors=True)
        if stack.log_path.exists():  # what the supervisor said, beside the numbers
            harness.OUT_DIR.mkdir(parents=True, exist_ok=True)
            shutil.copy(stack.log_path, harness.OUT_DIR / "make_run.log")


def test_start_to_first_demo_run_and_idle_memory(make_run: Stack) -> None:
    stack = make_run
    started = time.monotonic()
    stack.start()
    stack.wait_announced(timeout=600)
    token = _issue_token(stack)
    init_seconds = time.monotonic() - started
    stack.stop()
    timings: list[dict[str, float]] = []
    memory: list[dict[str, Any]] = []
    for _ in range(STARTS):
        stack.start()
        timings.append(_first_demo_run(stack, token))
        time.sleep(IDLE_SECONDS)  # the measure is memory after idling, not a synchronisation
        rss, pss, by_name = _rss(stack.processes())
        memory.append({"rss": rss, "pss": pss, "by_name": by_name})
        stack.stop()
    bench = harness.Benchmark(
        "make_run",
        "make run: start -> first completed demo run; idle RSS of the whole stack",
        settings={"starts": STARTS, "idle_seconds": IDLE_SECONDS, "demo_flow": DEMO_FLOW},
    )
    bench.rounds = STARTS
    first_runs = [t["first_run_succeeded_s"] for t in timings]
    api = harness.percentile([t["api_answered_s"] for t in timings], 50)
    bench.add(
        harness.Measure(
            "start -> first demo run succeeded",
            "s",
            ours=harness.percentile(first_runs, 50),
            target=harness.Target("ours", "<=", 10, "s"),
            ours_samples=first_runs,
            note=f"the API answered after {api:.1f} s",
        )
    )
    rss_mib = [m["rss"] / MIB for m in memory]
    bench.add(
        harness.Measure(
            f"idle RSS after {IDLE_SECONDS:g} s, whole stack",
            "MiB",
            ours=harness.percentile(rss_mib, 50),
            target=harness.Target("ours", "<=", 600, "MiB"),
            ours_samples=rss_mib,
            note=f"PSS {harness.percentile([m['pss'] / MIB for m in memory], 50):.0f} MiB",
        )
    )
    bench.notes.append(
        "The demo run's own scripted model latencies (its agents answer after 300-400 ms "
        "each) are part of the time; "
        "the supervisor's output is in .data/bench/make_run.log."
    )
    bench.extra = {
        "first_start_on_empty_data_dir_s": init_seconds,
        "timings": timings,
        "rss_by_process_name_mib": [
            {name: round(value / MIB, 1) for name, value in m["by_name"].items()} for m in memory
        ],
        "pss_mib": [m["pss"] / MIB for m in memory],
    }
    bench.save()
