"""`make run`'s supervisor: starts everything, restarts a dead child, lets running steps finish
on SIGTERM, leaves nothing behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from agents.models import OutboxMessage
from controlroom import devstack
from flows.engine import runs
from flows.models import Run, Step
from tests.support import stack, tools
from tests.support.flows import document, node, save
from tests.support.wait import wait_for

# committed rows: the supervised web server and workers, and manage.py, use their own connections
pytestmark = pytest.mark.django_db(transaction=True)


def _start(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "controlroom.supervisor"],
            cwd=stack.REPO_ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _children(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def _alive(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _argv(process: psutil.Process) -> list[str]:
    try:
        return process.cmdline()
    except psutil.NoSuchProcess:
        return []


def _worker_leader(pid: int, queues: str = "steps") -> psutil.Process | None:
    """The supervisor's Celery worker serving ``queues`` (steps, or control)."""
    for child in psutil.Process(pid).children():
        argv = _argv(child)  # a main process just killed is a zombie until it is reaped
        if "worker" in argv and "--queues" in argv and argv[argv.index("--queues") + 1] == queues:
            return child
    return None


def test_supervisor_serves_restarts_a_dead_worker_and_stops_everything_losing_nothing(
    process_env, tmp_path
):
    port = devstack.free_port()
    env = {
        **process_env,
        "PORT": str(port),
        "CONTROLROOM_DATA_DIR": str(tmp_path / "data"),
        "CONTROLROOM_SECRET_KEY": "supervisor-test",
        "CONTROLROOM_DEMO_HISTORY": "off",  # its runs would share this test's database
    }
    log = tmp_path / "supervisor.log"
    supervisor = _start(env, log)
    try:
        wait_for(
            lambda: "Ctrl-C stops everything" in log.read_text(),
            timeout=120,
            message=f"the supervisor to start:\n{log.read_text()}",
        )
        url = f"http://127.0.0.1:{port}/healthz"
        wait_for(lambda: stack.http_status(url) == 200, timeout=60, message="a green /healthz")
        assert "login: admin / " in log.read_text()

        # manage.py in another terminal finds the running stack without being told where.
        bare = {k: v for k, v in env.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
        issued = subprocess.run(
            [sys.executable, "manage.py", "issue_token", "bob", "--role", "viewer"],
            cwd=stack.REPO_ROOT,
            env=bare,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert issued.returncode == 0, issued.stderr
        token = issued.stdout.strip().splitlines()[-1]
        flows = f"http://127.0.0.1:{port}/api/flows"
        assert stack.http_status(flows, headers={"Authorization": f"Bearer {token}"}) == 200

        first = _worker_leader(supervisor.pid)
        assert first is not None
        os.killpg(first.pid, signal.SIGKILL)
        wait_for(lambda: "worker exited" in log.read_text(), timeout=30, message="a restart")
        wait_for(
            lambda: (w := _worker_leader(supervisor.pid)) is not None and w.pid != first.pid,
            timeout=60,
            message="a new worker",
        )
        wait_for(lambda: stack.http_status(url) == 200, timeout=60, message="green again")

        # Recovery's own lane runs the one scheduler (--beat). Its main process killed alone,
        # what it leaves behind (its pool process, its beat) goes before it is restarted:
        # still exactly one beat.
        control = _worker_leader(supervisor.pid, "control")
        assert control is not None
        assert not any("beat" in _argv(p) for p in _children(supervisor.pid))  # no `celery beat`
        control_log = tmp_path / "data" / "logs" / "control.log"
        wait_for(lambda: "beat: Starting" in control_log.read_text(), message="the beat")
        left_behind = control.children(recursive=True)
        assert len(left_behind) == 2  # its pool process and its beat
        os.kill(control.pid, signal.SIGKILL)
        wait_for(
            lambda: (
                (c := _worker_leader(supervisor.pid, "control")) is not None
                and c.pid != control.pid
                and "beat: Starting" in control_log.read_text()
            ),
            timeout=60,
            message="a new control worker and its beat",
        )
        assert [p.pid for p in left_behind if _alive(p)] == []
        assert control_log.read_text().count("beat: Starting") == 1

        # SIGTERM while a step runs: the worker shuts down warm and the step finishes; the
        # e-mail step after it waits for the next start, and is sent then, once.
        nap = node("nap", "tool", tool="counted_sleep", args={"seconds": 3})
        mail = node("mail", "tool", tool="send_email", args={"to": "ada@example.com", "body": "Hi"})
        flow = save(document("graceful", [nap, mail], [("nap", "mail")]))
        run, _ = runs.run_start(flow=flow, input={})
        wait_for(
            lambda: Step.objects.filter(run=run, status="running").exists(),
            timeout=60,
            message="the step to be running",
        )
        supervisor.send_signal(signal.SIGTERM)
        assert supervisor.wait(timeout=60) == 0
        step = Step.objects.get(run=run, node_id="nap")
        assert (step.status, step.attempt) == ("succeeded", 1), step.error
        assert "stopped." in log.read_text()

        log = tmp_path / "supervisor-again.log"
        supervisor = _start(env, log)
        wait_for(
            lambda: (
                Run.objects.get(id=run.id).status == "succeeded"
                and OutboxMessage.objects.filter(status="sent").exists()
            ),
            timeout=120,
            message=f"the run to finish after the restart:\n{log.read_text()}",
        )
        assert OutboxMessage.objects.get().to == "ada@example.com"  # exactly one, sent
        assert tools.calls(step.idempotency_key) == 1
        descendants = _children(supervisor.pid)
        supervisor.send_signal(signal.SIGTERM)
        assert supervisor.wait(timeout=60) == 0
        wait_for(
            lambda: [p.pid for p in descendants if _alive(p)] == [],
            timeout=5,
            message="every process the supervisor started to be gone",
        )
        assert "stopped." in log.read_text()
        assert not (tmp_path / "data" / "running.env").exists()
    finally:
        if supervisor.poll() is None:
            os.killpg(supervisor.pid, signal.SIGKILL)
