"""The demo seeder's simulated clock: the engine's time set back to a past day, moved by hand.

Everything the engine, the approvals, the outcomes and Django's ``auto_now`` fields write as a
time comes from ``django.utils.timezone.now()``, looked up at each call. Inside
``simulated(clock)`` that function answers ``clock.now()``, and a scripted model's
``latency_ms`` moves the clock on instead of sleeping, so a run of a past day is executed by
the real engine with the durations it would have had, in milliseconds of real time.

Only the seeder uses it, in a process of its own (``manage.py demo_seed``), and only around work
it does in one transaction per run: no other process ever sees a half-executed past run, so
the reconciler never mistakes its old timestamps for a lost worker.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import datetime, timedelta

from django.utils import timezone

from agents.providers.scripted import LATENCY_WAIT


class SimulatedClock:
    """A clock that stands still until told to move."""

    def __init__(self, at: datetime) -> None:
        if timezone.is_naive(at):
            raise ValueError("the simulated clock needs an aware datetime")
        self.at = at

    def now(self) -> datetime:
        return self.at

    def advance(self, seconds: float) -> None:
        self.at += timedelta(seconds=max(0.0, seconds))

    def move_to(self, at: datetime) -> None:
        """Jump forward to ``at``; a time in the past is ignored (the clock never runs back)."""
        self.at = max(self.at, at)


@contextlib.contextmanager
def simulated(clock: SimulatedClock) -> Iterator[SimulatedClock]:
    """Within the block, ``timezone.now()`` is ``clock.now()`` and scripted latency advances
    the clock. Not thread-safe by design: the seeder is single-threaded."""
    real_now = timezone.now
    timezone.now = clock.now
    token = LATENCY_WAIT.set(clock.advance)
    try:
        yield clock
    finally:
        LATENCY_WAIT.reset(token)
        timezone.now = real_now
