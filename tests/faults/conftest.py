"""The fault suite's stack: every test gets processes of its own, because it kills them.

`fault_stack` starts a Redis of the test's own (so it can be killed and restarted), a loopback
SMTP server that counts what it receives, a steps worker, a control worker and the scheduler,
all pointed at them. The test process itself still publishes to the session's Redis: runs it
starts reach the workers through the reconciler, as a publish lost in an outage would.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from controlroom import devstack
from tests.support import stack
from tests.support.smtp import SmtpSink


@dataclass
class FaultStack:
    redis: devstack.RedisProcess
    smtp: SmtpSink
    steps_worker: stack.ManagedProcess
    control_worker: stack.ManagedProcess
    beat: stack.ManagedProcess


@pytest.fixture
def fault_stack(
    celery_worker_factory: Callable[..., stack.ManagedProcess],
    process_env: dict[str, str],
    process_log_dir: Path,
    managed_processes: list[stack.ManagedProcess],
    tmp_path: Path,
) -> Iterator[FaultStack]:
    redis = devstack.start_redis(tmp_path / "redis")
    try:
        with SmtpSink(delay=0.2) as smtp:
            env: dict[str, Any] = {"REDIS_URL": redis.url, "CONTROLROOM_SMTP_URL": smtp.url}
            steps = celery_worker_factory(queues="steps", hostname="steps@%h", env_overrides=env)
            control = celery_worker_factory(
                queues="control", concurrency=1, hostname="control@%h", env_overrides=env
            )
            beat = stack.start_celery_beat(
                env={**process_env, **env}, log_dir=process_log_dir, register=managed_processes
            )
            yield FaultStack(redis, smtp, steps, control, beat)
    finally:
        redis.stop()
