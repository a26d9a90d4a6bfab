"""Waiting on real conditions, never on the clock: the only two ways a test waits.

Tests that drive real processes (workers, the web server, a browser) cannot know when the other
side has acted, so they poll the state that shows it: a row, a lock in `pg_locks`, a log line.
`wait_for` waits until something happens; `stays` checks that something does *not* happen,
by watching the state that would show it for a bounded time.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def wait_for(
    predicate: Callable[[], Any],
    *,
    timeout: float = 30.0,
    interval: float = 0.05,
    message: str = "condition",
) -> Any:
    """Poll ``predicate`` until it returns something truthy and return that value; fail with
    ``message`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message}")
        time.sleep(interval)


def stays(
    predicate: Callable[[], Any],
    *,
    seconds: float,
    interval: float = 0.05,
    message: str = "condition",
) -> None:
    """Assert ``predicate`` holds at every poll for ``seconds``: the bounded "nothing happened"
    check. It fails at the first poll that sees the state change."""
    deadline = time.monotonic() + seconds
    while True:
        if not predicate():
            raise AssertionError(f"{message} stopped holding")
        if time.monotonic() >= deadline:
            return
        time.sleep(interval)
