"""The Celery application. Workers run every step that waits on the outside world."""

import os

from celery import Celery
from celery.signals import worker_ready, worker_shutdown

from controlroom import broker

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "controlroom.settings.dev")

broker.install()
app = Celery("controlroom")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(["controlroom", "flows", "agents"])


@worker_ready.connect
def _worker_ready(sender: object = None, **kwargs: object) -> None:
    from controlroom import liveness

    liveness.on_worker_ready(sender=sender)


@worker_shutdown.connect
def _worker_shutdown(**kwargs: object) -> None:
    from controlroom import liveness

    liveness.on_worker_shutdown()
