"""A first `make run` opens on a living workspace: within 90 s of serving, on an empty data
directory with its own embedded PostgreSQL and Redis, there are runs, approvals waiting for a
person and ROI figures over past days — all made by the engine (``flows.demo.seed``)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from controlroom import devstack
from tests.support import stack
from tests.support.wait import wait_for

SERVE_TIMEOUT = 240  # an embedded PostgreSQL's first initdb on a busy machine included
LIVING_WITHIN = 90


def _fresh_env(tmp_path: Path, port: int) -> dict[str, str]:
    """The environment of a fresh checkout: no stack URLs, no settings, no product keys."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("CONTROLROOM_")
        and key not in {"DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE"}
    }
    return {**env, "PORT": str(port), "CONTROLROOM_DATA_DIR": str(tmp_path / "data")}


def _get(url: str, token: str) -> Any:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def test_a_fresh_make_run_shows_runs_pending_approvals_and_roi_within_90_seconds(tmp_path):
    port = devstack.free_port()
    env = _fresh_env(tmp_path, port)
    log = tmp_path / "supervisor.log"
    with log.open("wb") as out:
        supervisor = subprocess.Popen(
            [sys.executable, "-m", "controlroom.supervisor"],
            cwd=stack.REPO_ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_for(
            lambda: "Ctrl-C stops everything" in log.read_text(),
            timeout=SERVE_TIMEOUT,
            message=f"the first start to serve:\n{log.read_text()}",
        )
        serving = time.monotonic()
        issued = subprocess.run(
            [sys.executable, "manage.py", "issue_token", "admin", "--role", "admin"],
            cwd=stack.REPO_ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert issued.returncode == 0, issued.stderr
        token = issued.stdout.strip().splitlines()[-1]
        base = f"http://127.0.0.1:{port}/api"
        seen: dict[str, Any] = {}

        def living() -> bool:
            seen["runs"] = _get(f"{base}/runs?limit=5", token)["items"]
            seen["pending"] = _get(f"{base}/approvals?status=pending", token)["items"]
            seen["roi"] = _get(f"{base}/roi?days=30", token)["items"]
            with_runs = [row for row in seen["roi"] if row.get("runs")]
            if not (seen["runs"] and seen["pending"] and with_runs):
                return False
            board = _get(f"{base}/flows/{with_runs[0]['slug']}/roi?days=30", token)
            seen["days"] = [day["day"] for day in board["days"] if day.get("runs")]
            return len(seen["days"]) >= 2  # a trend over days, not just today

        wait_for(
            living,
            timeout=LIVING_WITHIN,
            interval=2.0,
            message=f"runs, pending approvals and ROI figures: {seen}",
        )
        assert time.monotonic() - serving <= LIVING_WITHIN
        assert all(run["demo"] for run in seen["runs"])  # labelled as demo data
    finally:
        if supervisor.poll() is None:
            supervisor.send_signal(signal.SIGTERM)
            try:
                supervisor.wait(timeout=90)
            except subprocess.TimeoutExpired:
                os.killpg(supervisor.pid, signal.SIGKILL)
                supervisor.wait()
