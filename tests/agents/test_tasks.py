"""The memory purge runs as a Celery task on the control queue, scheduled by beat."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from agents.memory import memory_remember
from agents.models import MemoryEntry
from agents.tasks import memory_purge_task
from controlroom.celery import app

pytestmark = pytest.mark.django_db(transaction=True)


def test_beat_schedules_the_memory_purge_on_the_control_queue():
    entry = settings.CELERY_BEAT_SCHEDULE["memory-purge"]
    assert entry["task"] == memory_purge_task.name == "agents.memory_purge"
    assert entry["options"]["queue"] == "control"
    assert app.amqp.router.route({}, "agents.memory_purge")["queue"].name == "control"


def test_a_worker_on_the_control_queue_purges_expired_memory(
    celery_worker_factory: Callable[..., object],
):
    celery_worker_factory(queues="control", concurrency=1)
    kept = memory_remember(key="contact:ada", agent="a", content="kept")
    expired = memory_remember(key="contact:ada", agent="a", content="expired")
    MemoryEntry.objects.filter(id=expired.id).update(expires_at=timezone.now() - timedelta(days=1))

    memory_purge_task.delay()

    deadline = time.monotonic() + 30
    while MemoryEntry.objects.filter(id=expired.id).exists():
        assert time.monotonic() < deadline, "the purge task did not run"
        time.sleep(0.1)
    assert MemoryEntry.objects.filter(id=kept.id).exists()
