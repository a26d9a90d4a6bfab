"""The Celery application. Workers run every step that waits on the outside world."""

import os
from typing import Any

from celery import Celery
from celery.signals import task_postrun, task_prerun, worker_ready, worker_shutdown
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


@task_prerun.connect
@task_postrun.connect
def _recycle_connections(task: Any = None, **kwargs: object) -> None:
    """Around every task, as around every request: drop connections that are broken, past
    ``CONN_MAX_AGE`` or left in a transaction; the next one used is health-checked first.
    (Not for a task applied eagerly: it runs inside its caller's transaction.)"""
    if task is not None and getattr(task.request, "is_eager", False):
        return
    from django.db import close_old_connections

    close_old_connections()


@worker_ready.connect
def _worker_ready(sender: object = None, **kwargs: object) -> None:
    from controlroom import liveness

    liveness.on_worker_ready(sender=sender)


@worker_shutdown.connect
def _worker_shutdown(**kwargs: object) -> None:
    from controlroom import liveness

    liveness.on_worker_shutdown()
