"""Session-wide test rules and the fixtures that start real processes.

The environment (service URLs, short engine timings) is set earlier, by the
`tests.support.session_env` plugin, because settings load before this file does.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import database, stack
from tests.support.wait import wait_for

database.install()

# The API tests' cast and bearer-token clients (``cast``, ``api``); a module that defines its
# own fixture of that name overrides it.
pytest_plugins = ["tests.support.api_clients"]

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
#
# Two kinds of test start real processes (DESIGN.md, "What real means"):
# - tests that only *use* a web server, worker and beat ask for `asgi_server`, `celery_worker`
#   or `celery_beat` and get the session's shared stack (`stack.SharedStack`);
# - tests that kill, stop, reconfigure or count processes start their own through
#   `process_env` and the `own_*` / `celery_worker_factory` fixtures; the shared stack is
#   stopped first so its worker cannot take their messages.
# `pytest_collection_modifyitems` runs the tests without processes first, then the shared-stack
# tests, then those with their own, so the shared stack starts once and stops once.

SHARED_STACK_FIXTURES = frozenset({"asgi_server", "celery_worker", "celery_beat"})
OWN_PROCESS_FIXTURE = "process_env"


def _process_group(item: pytest.Item) -> int:
    names = set(getattr(item, "fixturenames", ()))
    shared, own = bool(names & SHARED_STACK_FIXTURES), OWN_PROCESS_FIXTURE in names
    if shared and own:
        raise pytest.UsageError(
            f"{item.nodeid} asks for the shared stack and for processes of its own; "
            "use the own_* fixtures for every process it starts"
        )
    return 2 if own else 1 if shared else 0


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=_process_group)  # stable: file order holds within each group


@pytest.fixture(scope="session")
def shared_stack(
    django_db_setup: None, django_db_blocker: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[stack.SharedStack]:
    """The session's shared web server + worker + beat (started by the first test using them)."""
    with django_db_blocker.unblock():
        from django.db import connection

        env = _child_env(connection.settings_dict)
    shared = stack.SharedStack(env=env, log_dir=tmp_path_factory.mktemp("shared-stack"))
    yield shared
    shared.stop()


def _child_env(settings_dict: Any) -> dict[str, str]:
    return stack.child_env(
        database_url=stack.database_url_from_settings(settings_dict),
        redis_url=os.environ["REDIS_URL"],
        settings_module=os.environ["DJANGO_SETTINGS_MODULE"],
    )


@pytest.fixture
def live_stack(
    shared_stack: stack.SharedStack, transactional_db: None, request: pytest.FixtureRequest
) -> Iterator[stack.SharedStack]:
    """The shared stack, running, for one test (committed rows only, hence `transactional_db`:
    the processes read the test's rows through their own connections).

    At teardown it waits (bounded) for the steps the test left running to end, so the database
    is emptied under an idle worker; a failed test gets the stack's logs from its own time."""
    if not shared_stack.running:
        _purge_broker()  # messages earlier tests left for no worker: their rows are gone
    shared_stack.ensure()
    marks = shared_stack.log_marks()
    yield shared_stack
    _wait_steps_settled(timeout=15.0)
    reports = request.node.stash.get(_reports_key, {})
    if any(report.failed for report in reports.values()):
        for name, text in shared_stack.logs_since(marks).items():
            request.node.add_report_section("teardown", name, "\n".join(text.splitlines()[-200:]))


def _wait_steps_settled(*, timeout: float) -> None:
    from flows.models import Step
    from flows.states import StepStatus

    with contextlib.suppress(AssertionError):
        wait_for(
            lambda: not Step.objects.filter(status=StepStatus.RUNNING).exists(),
            timeout=timeout,
            message="the shared worker to finish the test's running steps",
        )


@pytest.fixture
def asgi_server(live_stack: stack.SharedStack) -> stack.AsgiServer:
    """The shared uvicorn serving `controlroom.asgi:application` (HTTP + websockets over the
    Redis channel layer) on a loopback port; `.url` is its base URL."""
    assert live_stack.asgi is not None
    return live_stack.asgi


@pytest.fixture
def celery_worker(live_stack: stack.SharedStack) -> stack.ManagedProcess:
    """The shared real prefork worker (queues `steps,control`, concurrency 2)."""
    assert live_stack.worker is not None
    return live_stack.worker


@pytest.fixture
def celery_beat(live_stack: stack.SharedStack) -> stack.ManagedProcess:
    """The shared scheduler (`celery beat`)."""
    assert live_stack.beat is not None
    return live_stack.beat


@pytest.fixture
def process_env(transactional_db: None, shared_stack: stack.SharedStack) -> dict[str, str]:
    """Environment for processes a test starts itself: the test database (committed rows only,
    hence `transactional_db`), the session's Redis, the test settings and the short timings.
    The shared stack is stopped first: its worker would consume this test's messages."""
    from django.db import connection

    shared_stack.stop()
    _forget_worker_beacons()
    _purge_broker()
    return _child_env(connection.settings_dict)


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


def _purge_broker() -> None:
    """Drop the messages waiting on the Celery queues (earlier tests' steps, whose rows were
    deleted at their teardown), so a new worker starts on this test's messages only."""
    from controlroom.celery import app

    app.control.purge()


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
    """Start real prefork Celery workers of the test's own on queues `steps,control`:
    `factory(concurrency=2, queues=..., hostname=..., extra_args=(), env_overrides=None)`.
    Each returns once ready; all are stopped when the test ends."""

    def factory(
        *, env_overrides: dict[str, str] | None = None, **kwargs: Any
    ) -> stack.ManagedProcess:
        env = {**process_env, **(env_overrides or {})}
        return stack.start_celery_worker(
            env=env, log_dir=process_log_dir, register=managed_processes, **kwargs
        )

    return factory


@pytest.fixture
def own_worker(celery_worker_factory: Callable[..., stack.ManagedProcess]) -> stack.ManagedProcess:
    """A worker of the test's own (concurrency 2), for a test that stops or kills it."""
    return celery_worker_factory()


@pytest.fixture
def own_beat(
    process_env: dict[str, str],
    process_log_dir: Path,
    managed_processes: list[stack.ManagedProcess],
) -> stack.ManagedProcess:
    """A scheduler of the test's own, with a schedule file in the test's tmp dir."""
    return stack.start_celery_beat(
        env=process_env, log_dir=process_log_dir, register=managed_processes
    )


@pytest.fixture
def own_asgi_server(
    process_env: dict[str, str],
    process_log_dir: Path,
    managed_processes: list[stack.ManagedProcess],
) -> stack.AsgiServer:
    """A uvicorn of the test's own, for a test that needs no worker or beat beside it."""
    return stack.start_asgi_server(
        env=process_env, log_dir=process_log_dir, register=managed_processes
    )
