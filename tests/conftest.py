"""Session-wide test rules and the fixtures that start real processes.

The environment (service URLs, short engine timings) is set earlier, by the
`tests.support.session_env` plugin, because settings load before this file does.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import stack

CHROMIUM = "/usr/bin/chromium"
_reports_key = pytest.StashKey[dict[str, pytest.TestReport]]()


# --- A skipped test is a failed test (DESIGN.md: no optional suites in `make test`) -------------


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report: pytest.TestReport = yield
    if report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = f"skipped tests fail the suite (DESIGN.md): {reason}"
    item.stash.setdefault(_reports_key, {})[report.when] = report
    return report


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(
    collector: pytest.Collector,
) -> Generator[None, pytest.CollectReport, pytest.CollectReport]:
    report: pytest.CollectReport = yield
    if report.skipped:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = f"skipped modules fail the suite (DESIGN.md): {reason}"
    return report


# --- Browser ------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def browser_type_launch_args() -> dict[str, Any]:
    """The distribution's Chromium, headless; Playwright downloads no browser here."""
    return {
        "executable_path": CHROMIUM,
        "args": [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ],
    }


# --- Real processes -----------------------------------------------------------------------------


@pytest.fixture
def process_env(transactional_db: None) -> dict[str, str]:
    """Environment for processes a test starts: the test database (committed rows only, hence
    `transactional_db`), the session's Redis, the test settings and the short timings."""
    from django.db import connection

    return stack.child_env(
        database_url=stack.database_url_from_settings(connection.settings_dict),
        redis_url=os.environ["REDIS_URL"],
        settings_module=os.environ["DJANGO_SETTINGS_MODULE"],
    )


@pytest.fixture
def managed_processes(request: pytest.FixtureRequest) -> Iterator[list[stack.ManagedProcess]]:
    """Every process the test's fixtures start; all are stopped at teardown, and their logs are
    attached to the report of a test that failed."""
    processes: list[stack.ManagedProcess] = []
    yield processes
    for process in reversed(processes):
        process.stop(timeout=5.0)
    if processes:
        _forget_worker_beacons()
    reports = request.node.stash.get(_reports_key, {})
    if any(report.failed for report in reports.values()):
        for process in processes:
            tail = "\n".join(process.log_text().splitlines()[-200:])
            request.node.add_report_section("teardown", process.name, tail)


def _forget_worker_beacons() -> None:
    """A worker killed before its clean shutdown leaves its liveness key for up to its TTL; the
    next test's health panel must not count it."""
    import redis

    from controlroom import liveness

    client = redis.Redis.from_url(os.environ["REDIS_URL"])
    try:
        keys = list(client.scan_iter(f"{liveness.KEY_PREFIX}*"))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


@pytest.fixture
def process_log_dir(tmp_path: Path) -> Path:
    path = tmp_path / "processes"
    path.mkdir()
    return path


@pytest.fixture
def celery_worker_factory(
    process_env: dict[str, str],
    process_log_dir: Path,
    managed_processes: list[stack.ManagedProcess],
) -> Callable[..., stack.ManagedProcess]:
    """Start real prefork Celery workers on queues `steps,control`: `factory(concurrency=2,
    queues=..., hostname=..., extra_args=(), env_overrides=None)`. Each returns once ready; all
    are stopped when the test ends."""

    def factory(
        *, env_overrides: dict[str, str] | None = None, **kwargs: Any
    ) -> stack.ManagedProcess:
        env = {**process_env, **(env_overrides or {})}
        return stack.start_celery_worker(
            env=env, log_dir=process_log_dir, register=managed_processes, **kwargs
        )

    return factory


@pytest.fixture
def celery_worker(
    celery_worker_factory: Callable[..., stack.ManagedProcess],
) -> stack.ManagedProcess:
    """One real worker, concurrency 2."""
    return celery_worker_factory()


@pytest.fixture
def celery_beat(
    process_env: dict[str, str],
    process_log_dir: Path,
    managed_processes: list[stack.ManagedProcess],
) -> stack.ManagedProcess:
    """The one scheduler (`celery beat`), with a schedule file in the test's tmp dir."""
    return stack.start_celery_beat(
        env=process_env, log_dir=process_log_dir, register=managed_processes
    )


@pytest.fixture
def asgi_server(
    process_env: dict[str, str],
    process_log_dir: Path,
    managed_processes: list[stack.ManagedProcess],
) -> stack.AsgiServer:
    """uvicorn serving `controlroom.asgi:application` (HTTP + websockets over the Redis channel
    layer) on a free loopback port; `.url` is its base URL."""
    return stack.start_asgi_server(
        env=process_env, log_dir=process_log_dir, register=managed_processes
    )
