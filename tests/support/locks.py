"""Holding a run's lock from another connection, as a worker frozen inside that run's
completion does."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.db import connection, transaction

from flows.engine.scheduler import Advance


@contextmanager
def run_locked(run_id: Any) -> Iterator[threading.Thread]:
    """Hold ``Advance.open(run_id)`` in a thread's own connection until the block ends; yields
    that thread (alive while it holds the lock). Precondition: committed rows
    (``transaction=True``)."""
    locked, release = threading.Event(), threading.Event()

    def hold() -> None:
        try:
            with transaction.atomic():
                Advance.open(run_id)
                locked.set()
                release.wait(60)
        finally:
            connection.close()

    thread = threading.Thread(target=hold)
    thread.start()
    try:
        assert locked.wait(10), "the lock was not taken"
        yield thread
    finally:
        release.set()
        thread.join()


@contextmanager
def lock_timeout(seconds: int) -> Iterator[None]:
    """Make this connection's statements fail after waiting ``seconds`` on a lock, not hang."""
    with connection.cursor() as cursor:
        cursor.execute(f"SET lock_timeout = '{int(seconds)}s'")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET lock_timeout")
