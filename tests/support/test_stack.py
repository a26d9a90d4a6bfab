"""tests/support/stack.py: the process fixtures start real servers and always clean them up."""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest

from controlroom import devstack
from controlroom.celery import app
from tests.support import stack


def _gone(pids: list[int]) -> bool:
    import psutil

    return not any(
        psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
        for pid in pids
    )


def test_child_processes_use_the_test_database_and_short_timings(
    process_env: dict[str, str],
) -> None:
    from django.db import connection

    assert (
        process_env["DATABASE_URL"].split("?")[0].endswith("/" + connection.settings_dict["NAME"])
    )
    assert process_env["REDIS_URL"] == os.environ["REDIS_URL"]
    for name, value in stack.TEST_TIMINGS.items():
        assert process_env[name] == value


def test_database_url_round_trips_through_env_parsing() -> None:
    from controlroom.env import database_from_url

    for url in (
        "postgresql://postgres@127.0.0.1:5432/controlroom_test",
        "postgresql://postgres:@/controlroom_test?host=/tmp/pg%20dir",
        "postgresql://app:s%40cret@db.internal:6543/controlroom_test",
    ):
        settings = database_from_url(url)
        assert database_from_url(stack.database_url_from_settings(settings)) == settings


@pytest.mark.parametrize("queue", ["steps", "control"])
def test_worker_consumes_both_queues(celery_worker: stack.ManagedProcess, queue: str) -> None:
    result = app.send_task("celery.accumulate", args=[queue], queue=queue)
    celery_worker.wait_for_log(rf"celery\.accumulate\[{result.id}\] succeeded", timeout=20)


def test_killed_worker_leaves_no_pool_process(
    celery_worker_factory: Callable[..., stack.ManagedProcess],
) -> None:
    worker = celery_worker_factory(concurrency=2)
    pool = worker.pool_child_pids()
    assert len(pool) == 2
    worker.kill()
    assert _gone([worker.pid, *pool])


def test_stopped_worker_shuts_down_warm(
    celery_worker_factory: Callable[..., stack.ManagedProcess],
) -> None:
    worker = celery_worker_factory(concurrency=1)
    pool = worker.pool_child_pids()
    worker.stop()
    assert worker.popen is not None and worker.popen.returncode == 0
    assert _gone([worker.pid, *pool])


def test_beat_runs_the_schedule(celery_beat: stack.ManagedProcess) -> None:
    celery_beat.wait_for_log(r"Scheduler: Sending due task", timeout=20)


def test_asgi_server_and_worker_share_the_test_services(
    asgi_server: stack.AsgiServer, celery_worker: stack.ManagedProcess
) -> None:
    # /healthz is green only when the server reaches the database and Redis and sees a worker.
    devstack.wait_until(
        lambda: stack.http_status(f"{asgi_server.url}/healthz") == 200,
        timeout=20,
        what="a green /healthz",
    )
