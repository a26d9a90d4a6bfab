"""What the engine benchmarks share: the `make run` shape of workers, agent chains, and the
raw Celery chains they are compared with.

The workers mirror `make run` (controlroom/supervisor/): one prefork worker on ``steps``
(concurrency 2), one on ``control`` (concurrency 1) and a beat, with the production engine
timings rather than the tests' short ones. The steps worker also loads ``tests.bench.tasks``,
so the comparator's hops run on the very same processes as the engine's steps.
"""

from __future__ import annotations

import time
import uuid

import redis
from celery import chain
from django.conf import settings

from flows.engine import runs
from flows.models import Flow, Run
from tests.bench.tasks import hop_task
from tests.support.flows import document, node, save, scripted
from tests.support.wait import wait_for

# The production defaults (README, "Scaling out"), instead of `stack.TEST_TIMINGS`.
PRODUCTION_TIMINGS = {
    "CONTROLROOM_HEARTBEAT_SECONDS": "5",
    "CONTROLROOM_HEARTBEAT_LAPSE_SECONDS": "30",
    "CONTROLROOM_REQUEUE_AFTER_SECONDS": "30",
    "CONTROLROOM_RECONCILE_EVERY_SECONDS": "2",
}


def chain_flow(slug: str, steps: int) -> Flow:
    """``steps`` scripted agent steps in a row (the offline model answers at once)."""
    return save(
        document(
            slug,
            [node(f"s{i}", "agent", agent="fast") for i in range(steps)],
            [(f"s{i}", f"s{i + 1}") for i in range(steps - 1)],
            agents=[scripted("fast", "ok")],
        )
    )


def _broker() -> redis.Redis:
    return redis.Redis.from_url(settings.CELERY_BROKER_URL)


def raw_chains(count: int, hops: int, *, timeout: float = 600.0) -> float:
    """Publish ``count`` Celery chains of ``hops`` tasks at once; seconds from the first
    publish until the last chain's last hop finished (its own wall-clock stamp)."""
    marker = uuid.uuid4().hex
    key = f"bench:done:{marker}"
    client = _broker()
    try:
        started = time.time()
        for _ in range(count):
            chain(*(hop_task.si(marker, i == hops - 1) for i in range(hops))).apply_async()
        wait_for(
            lambda: client.llen(key) >= count,
            timeout=timeout,
            interval=0.005 if count == 1 else 0.05,
            message=f"{count} raw chains of {hops} hops",
        )
        finished = max(float(stamp) for stamp in client.lrange(key, 0, -1))
        client.delete(key)
        return finished - started
    finally:
        client.close()


def engine_runs(flow: Flow, count: int, *, timeout: float = 900.0) -> float:
    """Start ``count`` runs of ``flow`` at once; seconds from the first start until the last
    run finished (the engine's own ``finished_at``, wall clock)."""
    started = time.time()
    ids = [runs.run_start(flow=flow, input={})[0].id for _ in range(count)]
    wait_for(
        lambda: Run.objects.filter(id__in=ids, finished_at__isnull=False).count() >= count,
        timeout=timeout,
        interval=0.005 if count == 1 else 0.1,
        message=f"{count} runs of {flow.slug}",
    )
    finished = list(Run.objects.filter(id__in=ids).values_list("status", "finished_at"))
    statuses = {status for status, _ in finished}
    assert statuses == {"succeeded"}, f"runs ended {statuses}"
    return max(stamp.timestamp() for _, stamp in finished) - started
