"""The benchmarks' session: the summary table of every benchmark recorded, printed at the end
and written to ``.data/bench/summary.md`` (``summary-peers.md`` for `make bench-peers`), each
benchmark's JSON beside it; and the `make run`-shaped workers the engine benchmarks share."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.bench import harness
from tests.bench.engine import PRODUCTION_TIMINGS
from tests.support import stack


@pytest.hookimpl(trylast=True)
def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.failed and "tests/bench" in report.nodeid:
        name = report.nodeid.split("::")[-1]
        line = str(report.longrepr).strip().splitlines()[-1:] if report.longrepr else [""]
        harness.FAILED.append((name, f"{report.when}: {line[0][:160]}"))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not harness.RECORDED and not harness.FAILED:
        return
    table = harness.summary_table(harness.RECORDED, harness.FAILED)
    # `make bench-peers` keeps its own table, so it does not replace `make bench`'s.
    peers_only = harness.RECORDED and all(p.stem.startswith("peers_") for p in harness.RECORDED)
    name = "summary-peers.md" if peers_only else "summary.md"
    harness.OUT_DIR.mkdir(parents=True, exist_ok=True)
    (harness.OUT_DIR / name).write_text(table + "\n")
    terminalreporter.write_sep("=", f"benchmarks (.data/bench/{name})")
    terminalreporter.write_line(table)


@pytest.fixture
def engine_stack(
    celery_worker_factory: Callable[..., stack.ManagedProcess],
    process_env: dict[str, str],
    process_log_dir: Path,
    managed_processes: list[stack.ManagedProcess],
) -> list[stack.ManagedProcess]:
    """Workers and beat shaped like `make run`'s, on the test database (stopped at teardown)."""
    steps = celery_worker_factory(
        concurrency=2,
        queues="steps",
        hostname=f"bench-steps-{uuid.uuid4().hex[:6]}@%h",
        extra_args=("--include", "tests.bench.tasks"),
        env_overrides=PRODUCTION_TIMINGS,
    )
    control = celery_worker_factory(
        concurrency=1,
        queues="control",
        hostname=f"bench-control-{uuid.uuid4().hex[:6]}@%h",
        env_overrides=PRODUCTION_TIMINGS,
    )
    beat = stack.start_celery_beat(
        env={**process_env, **PRODUCTION_TIMINGS},
        log_dir=process_log_dir,
        register=managed_processes,
    )
    return [steps, control, beat]
