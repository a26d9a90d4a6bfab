"""/healthz reports the database, Redis and live workers, and answers 503 when one is missing."""

from __future__ import annotations

import json

import pytest

from controlroom import liveness
from tests.support.wait import wait_for

pytestmark = pytest.mark.django_db


def _health(client) -> tuple[int, dict]:
    response = client.get("/healthz")
    return response.status_code, json.loads(response.content)


def test_healthz_is_503_without_a_live_worker(client):
    for name in liveness.live_workers():
        liveness._client().delete(liveness.KEY_PREFIX + name)
    status, body = _health(client)
    assert status == 503
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["redis"]["ok"] is True
    assert body["checks"]["workers"]["ok"] is False
    assert "no live Celery worker" in body["checks"]["workers"]["error"]


# committed rows: the real worker process it starts (celery_worker_factory) shares the database
@pytest.mark.django_db(transaction=True)
def test_healthz_is_200_with_a_worker_and_503_once_it_stops(client, celery_worker_factory):
    worker = celery_worker_factory(hostname="health@%h")
    status, body = wait_for(lambda: (r := _health(client))[0] == 200 and r, message="green health")
    assert any(name.startswith("health@") for name in body["checks"]["workers"]["names"])
    worker.stop()
    status, _ = _health(client)
    assert status == 503


def test_healthz_reports_redis_down(client, settings):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"
    status, body = _health(client)
    assert status == 503
    assert body["checks"]["redis"]["ok"] is False
    assert body["checks"]["workers"] == {"ok": False, "error": "redis is down"}
