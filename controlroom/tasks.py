"""Project-level Celery tasks."""

from __future__ import annotations

from controlroom.celery import task


@task(name="controlroom.echo", acks_late=True, ignore_result=True)
def echo_task(marker: str) -> None:
    """Do nothing but record that a worker ran it: the raw cost of one Celery hop.

    Benchmarks use it as the comparator for engine throughput (``tests/bench``).
    """
    import redis
    from django.conf import settings

    redis.Redis.from_url(settings.CELERY_BROKER_URL).incr(f"echo:{marker}")
