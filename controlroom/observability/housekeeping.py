"""Quiet housekeeping: the periodic tasks' bookkeeping lines stay out of the INFO log.

Celery beat sends its housekeeping tasks (``settings.CELERY_BEAT_SCHEDULE``) every one to a few
seconds, and for each one Celery logs three INFO lines: beat's "Scheduler: Sending due task",
the worker's "Task … received" and "Task … succeeded". An idle stack printed 5 to 10 of them a
second. Those lines say only that a timer fired; a housekeeping task that *did* something logs
it itself at INFO (``engine tick: …``, ``outbox re-drive: …``), and failures are logged at
ERROR by Celery whatever the task. So this filter drops exactly the three bookkeeping lines,
and only for the tasks it was given; every other task's lines (steps, deliveries, notices)
and every line at another level pass. The first time a process logs a line of a kind for a
task it passes, so a start-up log still shows beat sending, and a worker receiving and
running, each housekeeping task once.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping

#: The Celery loggers whose INFO lines are per-task bookkeeping.
_BOOKKEEPING_LOGGERS = frozenset({"celery.beat", "celery.worker.strategy", "celery.app.trace"})


class HousekeepingFilter(logging.Filter):
    """A handler filter: False (drop) for an INFO bookkeeping line of one of ``tasks``."""

    def __init__(self, *, tasks: Iterable[str]) -> None:
        super().__init__()
        self.tasks = frozenset(tasks)
        self._seen: set[tuple[str, str, str]] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno != logging.INFO or record.name not in _BOOKKEEPING_LOGGERS:
            return True
        task = _task_name(record)
        if task not in self.tasks:
            return True
        kind = (record.name, str(record.msg), task)
        if kind in self._seen:
            return False
        self._seen.add(kind)
        return True


def _task_name(record: logging.LogRecord) -> str | None:
    # The worker's lines pass a context mapping with the task's name (logging keeps a lone
    # mapping argument as ``record.args``); beat's pass (entry name, task name).
    args = record.args
    if isinstance(args, Mapping):
        name = args.get("name")
        return name if isinstance(name, str) else None
    if isinstance(args, tuple) and len(args) == 2 and isinstance(args[1], str):
        return args[1]
    return None
