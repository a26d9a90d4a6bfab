"""The raw Celery comparator: a task that does nothing but note that it ran.

Benchmark workers load it with ``--include tests.bench.tasks``; it has the step task's
delivery policy (late ack, redelivery on worker loss, no result) and goes to the same
``steps`` queue on the same workers, so a chain of these is the cost of Celery's hops alone.
One Redis connection pool per worker process, as the engine keeps its connections.
"""

from __future__ import annotations

import time

import redis
from celery import shared_task
from django.conf import settings

_client: redis.Redis | None = None


def _redis() -> redis.Redis:
    global _client
    if _client is None:
        _client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    return _client


@shared_task(
    name="bench.hop",
    acks_late=True,
    reject_on_worker_lost=True,
    ignore_result=True,
)
def hop_task(marker: str, last: bool) -> None:
    """One hop of a chain; the last hop of a chain records when it finished (wall clock, for
    the same clock the engine's ``finished_at`` uses) and counts the chain as done."""
    if last:
        client = _redis()
        pipe = client.pipeline(transaction=False)
        pipe.rpush(f"bench:done:{marker}", repr(time.time()))
        pipe.expire(f"bench:done:{marker}", 3600)
        pipe.execute()
