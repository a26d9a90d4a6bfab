"""The Celery application. Workers run every step that waits on the outside world.

Celery ships no type information, so its decorators would leave every task and signal receiver
untyped. ``task`` and ``_receiver`` below are the one place that wraps them: tasks keep their
signatures (``delay`` and direct calls are checked against the function's parameters) and
receivers stay the functions they are.
"""

import os
from collections.abc import Callable
from typing import Any, Protocol, TypedDict, Unpack, cast

from celery import Celery, shared_task
from celery.result import AsyncResult, EagerResult
from celery.signals import task_postrun, task_prerun, worker_ready, worker_shutdown
from celery.utils.dispatch import Signal
from kombu.transport import TRANSPORT_ALIASES

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "controlroom.settings.dev")

# ``redis://`` broker URLs use the hardened transport (controlroom.broker). Named, not imported:
# kombu imports it (and redis-py with it) at the first connection, which a process that never
# talks to the broker (``manage.py`` mostly) does not make.
TRANSPORT_ALIASES["redis"] = "controlroom.broker:Transport"
app = Celery("controlroom")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(["controlroom", "flows", "agents"])
# Celery's Django fixup closes every database connection before and after each task unless
# ``DB_REUSE_MAX`` is set; it is set out of its reach so that connections live as Django's
# ``CONN_MAX_AGE`` says, and each task starts the way a Django request does (below).
app.conf.CELERY_DB_REUSE_MAX = 2**62


class TaskPolicy(TypedDict, total=False):
    """The delivery policy a task carries on its decorator (STYLE.md 6), in Celery's words:
    late acknowledgement, redelivery when the worker dies, no stored result, time limits in
    seconds. A key left out keeps Celery's (or the app's configured) default."""

    acks_late: bool
    reject_on_worker_lost: bool
    ignore_result: bool
    time_limit: int
    soft_time_limit: int


class TypedTask[**P, R](Protocol):
    """A registered Celery task, as this project uses one: calling it or ``run`` runs the body
    in this process; ``delay`` publishes it with the body's own arguments; ``apply_async``
    publishes it with per-call options (time limits, ``retry``); ``apply`` runs it eagerly
    through Celery's machinery. ``name`` is its stable registered name."""

    name: str

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R: ...

    def run(self, *args: P.args, **kwargs: P.kwargs) -> R: ...

    def delay(self, *args: P.args, **kwargs: P.kwargs) -> AsyncResult: ...

    def apply_async(
        self,
        args: tuple[object, ...] | None = None,
        kwargs: dict[str, object] | None = None,
        **options: object,
    ) -> AsyncResult: ...

    def apply(
        self,
        args: tuple[object, ...] | None = None,
        kwargs: dict[str, object] | None = None,
        **options: object,
    ) -> EagerResult: ...


def task[**P, R](
    *, name: str, **policy: Unpack[TaskPolicy]
) -> Callable[[Callable[P, R]], TypedTask[P, R]]:
    """Register the decorated function as the shared Celery task ``name`` with ``policy``;
    the result is Celery's task object, typed with the function's signature."""

    def register(body: Callable[P, R]) -> TypedTask[P, R]:
        # shared_task returns a celery.Task, which Celery leaves untyped.
        return cast(TypedTask[P, R], shared_task(name=name, **policy)(body))

    return register


def _receiver[F: Callable[..., None]](*signals: Signal) -> Callable[[F], F]:
    """Connect the decorated function to each of ``signals`` (weakly, as ``Signal.connect``
    does; a module-level function lives as long as its module) and return it unchanged."""

    def connect(receiver: F) -> F:
        for signal in signals:
            signal.connect(receiver)
        return receiver

    return connect


@_receiver(task_prerun, task_postrun)
def _recycle_connections(task: Any = None, **kwargs: object) -> None:
    """Around every task, as around every request: drop connections that are broken, past
    ``CONN_MAX_AGE`` or left in a transaction; the next one used is health-checked first.
    (Not for a task applied eagerly: it runs inside its caller's transaction.)"""
    if task is not None and getattr(task.request, "is_eager", False):
        return
    from django.db import close_old_connections

    close_old_connections()


@_receiver(worker_ready)
def _worker_ready(sender: object = None, **kwargs: object) -> None:
    from controlroom import liveness

    liveness.on_worker_ready(sender=sender)


@_receiver(worker_shutdown)
def _worker_shutdown(**kwargs: object) -> None:
    from controlroom import liveness

    liveness.on_worker_shutdown()
