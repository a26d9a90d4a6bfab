"""The memory purge runs as a Celery task on the control queue, scheduled by beat."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from agents.memory import memory_remember
from agents.models import MemoryEntry
from agents.tasks import memory_purge_task
from controlroom.celery import app
from tests.support.wait import wait_for

pytestmark = pytest.mark.django_db


def test_beat_schedules_the_memory_purge_on_the_control_queue():
    entry = settings.CELERY_BEAT_SCHEDULE["memory-purge"]
    assert entry["task"] == memory_purge_task.name == "agents.memory_purge"
    assert entry["options"]["queue"] == "control"
    assert app.amqp.router.route({}, "agents.memory_purge")["queue"].name == "control"


# committed rows: the purge task runs in the worker process on its own connection
@pytest.mark.django_db(transaction=True)
def test_a_worker_on_the_control_queue_purges_expired_memory(celery_worker: object):
    kept = memory_remember(key="contact:ada", agent="a", content="kept")
    expired = memory_remember(key="contact:ada", agent="a", content="expired")
    MemoryEntry.objects.filter(id=expired.id).update(expires_at=timezone.now() - timedelta(days=1))

    memory_purge_task.delay()

    wait_for(
        lambda: not MemoryEntry.objects.filter(id=expired.id).exists(),
        message="the purge task to run",
    )
    assert MemoryEntry.objects.filter(id=kept.id).exists()
