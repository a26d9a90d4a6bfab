"""Eager continuation: the worker that completes a step runs the next ready step of the same
run itself, instead of publishing it and waiting for the queue to hand it back.

Still durable: the next step is inserted ``queued`` and committed like any other, and is
claimed with the same fenced claim a delivery makes — if the worker dies before claiming it,
the reconciler publishes it (as for a lost message). Only one step per completion continues
here; the others a completion activates (fan-out branches) are published, so they run in
parallel on other workers. Bounded so one run cannot hog a worker: a step continues only while
the task is younger than ``EAGER_SLICE_SECONDS`` and for at most ``EAGER_CHAIN_MAX`` steps,
and only when its time limits equal the task's (a continued step runs under the limits of the
task that started the chain, so it may lose up to the slice of its time limit, never gain).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.conf import settings
from django.db import transaction

from flows.engine import claims
from flows.graph import for_version
from flows.models import Step

_local = threading.local()


class Chain:
    """One task's chain of steps on this worker."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.slice = float(settings.CONTROLROOM["EAGER_SLICE_SECONDS"])
        self.remaining = int(settings.CONTROLROOM["EAGER_CHAIN_MAX"])
        self.run_id: Any = None
        self.limits: tuple[float, float] | None = None
        self._offered: int | None = None
        self._ready: int | None = None

    def begin(self, step: Step) -> None:
        """The step this worker now executes (the first one fixes the task's limits)."""
        self.run_id = step.run_id
        if self.limits is None:
            self.limits = step_time_limits(step)
        self._offered = None

    def offer(self, step: Step) -> bool:
        """Keep ``step`` (just queued, not yet committed) to run here after the commit?"""
        if (
            self._offered is not None
            or self.remaining <= 0
            or step.run_id != self.run_id
            or time.monotonic() - self.started >= self.slice
            or step_time_limits(step) != self.limits
        ):
            return False
        self._offered = step_id = step.id
        transaction.on_commit(lambda: self._commit(step_id))
        return True

    def _commit(self, step_id: int) -> None:
        self._ready = step_id

    def take(self) -> int | None:
        """The step to run next here, if a committed completion left one."""
        step_id, self._ready = self._ready, None
        if step_id is not None:
            self.remaining -= 1
        return step_id


@contextmanager
def chain() -> Iterator[Chain]:
    """Let the steps this thread completes in the block continue here (``offer``)."""
    current = Chain()
    _local.chain = current
    try:
        yield current
    finally:
        _local.chain = None


def begin(step: Step) -> None:
    """Tell the chain in progress, if any, which step this thread now executes."""
    current: Chain | None = getattr(_local, "chain", None)
    if current is not None:
        current.begin(step)


def offer(step: Step) -> bool:
    """For each step queued for publishing: True if this thread's chain will run it itself
    after the commit, so it must not be published."""
    current: Chain | None = getattr(_local, "chain", None)
    return current is not None and current.offer(step)


def step_time_limits(step: Step) -> tuple[float, float]:
    """(soft, hard) Celery time limits of a step's task: its node's ``timeout_seconds``,
    capped by ``STEP_TIME_LIMIT_SECONDS``; the hard limit leaves 10 s to record the timeout."""
    ceiling = float(settings.CONTROLROOM["STEP_TIME_LIMIT_SECONDS"])
    run = claims.attach_version(step.run)
    config = for_version(run.version_id, run.version.document).config(step.node_id)
    soft = min(float(config.get("timeout_seconds", ceiling)), ceiling)
    return soft, min(soft + 10, ceiling + 10)
