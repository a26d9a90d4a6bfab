"""PostgreSQL crashes (an immediate shutdown: every backend killed, crash recovery at restart)
while steps are running, and comes back seconds later: every run still succeeds, each step on
its first attempt and executed once. Before, a lost connection was classed as a crash and
3 of 3 such steps failed for good on attempt 1."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

from controlroom import devstack
from controlroom.env import database_from_url
from flows.engine import runs
from flows.models import Run, Step
from flows.states import RUN_TERMINAL
from tests.support import stack, tools
from tests.support.flows import document, node, save
from tests.support.wait import wait_for

# committed rows: the workers under test read them through their own connections
pytestmark = pytest.mark.django_db(transaction=True)

RUNS = 3


@dataclass
class OwnPostgres:
    data_dir: Path
    server: Any
    url: str

    def crash(self) -> None:
        """An immediate shutdown: every backend quits at once, nothing is checkpointed."""
        connection.close()
        devstack.stop_embedded_postgres(self.server, mode="immediate")

    def start(self) -> None:
        self.server, _ = devstack.start_embedded_postgres(self.data_dir, database="faults")


@pytest.fixture
def own_postgres(tmp_path: Path, process_env: dict[str, str]) -> Iterator[OwnPostgres]:
    """A PostgreSQL of the test's own, migrated; this process's ORM points at it meanwhile."""
    server, url = devstack.start_embedded_postgres(tmp_path / "pg", database="faults")
    own = OwnPostgres(tmp_path / "pg", server, url)
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=stack.REPO_ROOT,
        env={**process_env, "DATABASE_URL": url},
        check=True,
        timeout=300,
    )
    saved = dict(connection.settings_dict)
    connection.close()
    connection.settings_dict.update(database_from_url(url))
    try:
        yield own
    finally:
        connection.close()
        connection.settings_dict.clear()
        connection.settings_dict.update(saved)
        devstack.stop_embedded_postgres(own.server)


def test_postgres_crash_mid_step_fails_no_run(
    own_postgres: OwnPostgres,
    celery_worker_factory: Callable[..., stack.ManagedProcess],
    process_env: dict[str, str],
    process_log_dir: Path,
    managed_processes: list[stack.ManagedProcess],
) -> None:
    env = {"DATABASE_URL": own_postgres.url}
    celery_worker_factory(queues="steps", concurrency=RUNS, hostname="steps@%h", env_overrides=env)
    celery_worker_factory(queues="control", concurrency=1, hostname="ctl@%h", env_overrides=env)
    stack.start_celery_beat(
        env={**process_env, **env}, log_dir=process_log_dir, register=managed_processes
    )
    long_step = node("long", "tool", tool="counted_sleep", args={"seconds": 4})
    flow = save(document("through-a-crash", [long_step], []))
    started = [runs.run_start(flow=flow, input={})[0] for _ in range(RUNS)]
    wait_for(
        lambda: Step.objects.filter(status="running").count() == RUNS,
        timeout=60,
        message="every long step claimed",
    )
    keys = list(Step.objects.values_list("idempotency_key", flat=True))
    wait_for(
        lambda: all(tools.calls(key) == 1 for key in keys),
        timeout=30,
        message="every long step inside its tool call",
    )
    own_postgres.crash()
    crashed = time.monotonic()
    time.sleep(3)  # the outage itself, not a wait for anything (recovery is measured after it)
    own_postgres.start()

    wait_for(
        lambda: not Run.objects.exclude(status__in=RUN_TERMINAL).exists(),
        timeout=120,
        message="every run to end",
    )
    print(f"\npostgres crash mid-step: all runs ended {time.monotonic() - crashed:.1f}s after")
    assert sorted(Run.objects.values_list("status", flat=True)) == ["succeeded"] * RUNS
    for run in started:
        step = Step.objects.get(run=run)
        assert (step.status, step.attempt) == ("succeeded", 1), step.error
        assert tools.calls(step.idempotency_key) == 1
