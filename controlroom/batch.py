"""Write-behind within one transaction: append-only history rows in one round trip.

The engine's transactions append history (run events, ROI facts, audit rows) beside every
state change. Each is a plain INSERT whose result nobody reads, so inside ``batched()`` they are
collected and sent together, as one multi-statement execute, when the block ends — still inside
the same transaction, so they commit or roll back with the change they describe.

Outside ``batched()`` (or outside a transaction) ``execute`` runs the statement at once.
Django's psycopg backend binds parameters on the client, so several statements with
parameters travel in one round trip.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from django.db import connection

_local = threading.local()


def execute(sql: str, params: Sequence[Any]) -> None:
    """Run ``sql`` now, or at the end of the enclosing ``batched()`` block."""
    pending: list[tuple[str, Sequence[Any]]] | None = getattr(_local, "pending", None)
    if pending is not None and connection.in_atomic_block:
        pending.append((sql, params))
        return
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


@contextmanager
def batched() -> Iterator[None]:
    """Collect ``execute`` calls made in the block and send them in one round trip at its end.
    Use inside ``transaction.atomic``; an exception discards them (the transaction rolls back).
    Nested blocks join the outermost one."""
    if getattr(_local, "pending", None) is not None:
        yield
        return
    pending: list[tuple[str, Sequence[Any]]] = []
    _local.pending = pending
    try:
        yield
    finally:
        _local.pending = None
    flush(pending)


def flush(pending: list[tuple[str, Sequence[Any]]]) -> None:
    """Send ``pending`` in one execute. Each statement is bound on its own (``mogrify``: the
    driver parses each short template once and caches it) and the joined text goes without
    parameters, so nothing parses the long joined text again."""
    if not pending:
        return
    with connection.cursor() as cursor:
        if len(pending) == 1:
            cursor.execute(*pending[0])
            return
        bound = [cursor.mogrify(statement, params) for statement, params in pending]
        cursor.execute(";\n".join(bound))
