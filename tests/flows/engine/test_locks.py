"""The run lock locks the run row only: while one run's step holds it (a worker frozen inside
its completion), another run of the same flow starts, and the reconciler still works."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from django.db import connection, transaction

from flows.engine import reconciler, runs
from flows.engine.scheduler import Advance
from flows.models import Run
from tests.support.flows import document, node, save

# committed rows: a second connection (a thread) holds the first run's lock
pytestmark = pytest.mark.django_db(transaction=True)


@contextmanager
def run_locked(run: Run) -> Iterator[None]:
    """Hold ``Advance.open(run)`` in another connection, as a worker inside a step's
    completion does, until the block ends."""
    locked, release = threading.Event(), threading.Event()

    def hold() -> None:
        try:
            with transaction.atomic():
                Advance.open(run.id)
                locked.set()
                release.wait(30)
        finally:
            connection.close()

    thread = threading.Thread(target=hold)
    thread.start()
    try:
        assert locked.wait(10), "the lock was not taken"
        yield
    finally:
        release.set()
        thread.join()


def test_a_new_run_of_the_flow_starts_while_another_run_is_locked() -> None:
    flow = save(document("locked", [node("work", "tool", tool="counted_sleep", args={})], []))
    first, _ = runs.run_start(flow=flow, input={})
    with run_locked(first):
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = '3s'")  # waiting would raise, not hang
        try:
            second: Any
            second, _ = runs.run_start(flow=flow, input={})
            assert Run.objects.get(id=second.id).status in {"queued", "running"}
            reconciler.requeue_stranded()  # reads runs and versions without locking them
        finally:
            with connection.cursor() as cursor:
                cursor.execute("RESET lock_timeout")
