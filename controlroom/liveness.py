"""Worker liveness: each Celery worker keeps a short-lived key in Redis while it runs.

``/healthz`` counts these keys instead of pinging workers over the broker, which would cost a
full reply timeout on every health check.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from typing import Any

import redis
from django.conf import settings

logger = logging.getLogger(__name__)

KEY_PREFIX = "controlroom:worker:"
BEAT_SECONDS = 5.0
TTL_SECONDS = 15


def _client() -> redis.Redis:
    return redis.Redis.from_url(
        settings.CELERY_BROKER_URL, socket_timeout=2, socket_connect_timeout=2
    )


class WorkerBeacon:
    """A daemon thread in the worker's main process refreshing ``KEY_PREFIX + hostname``."""

    def __init__(self, hostname: str) -> None:
        self.key = KEY_PREFIX + hostname
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="liveness", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        with contextlib.suppress(redis.RedisError):
            _client().delete(self.key)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                _client().set(self.key, "1", ex=TTL_SECONDS)
            except redis.RedisError as exc:  # the broker is away; try again next beat
                logger.debug("liveness beacon failed: %r", exc)
            self._stop.wait(BEAT_SECONDS)


def live_workers() -> list[str]:
    client = _client()
    try:
        return sorted(
            key.decode()[len(KEY_PREFIX) :] for key in client.scan_iter(f"{KEY_PREFIX}*", count=500)
        )
    finally:
        client.close()


_beacon: WorkerBeacon | None = None


def on_worker_ready(sender: Any = None, **_: Any) -> None:
    global _beacon
    hostname = getattr(sender, "hostname", None) or "worker"
    _beacon = WorkerBeacon(hostname)
    _beacon.start()


def on_worker_shutdown(**_: Any) -> None:
    if _beacon is not None:
        _beacon.stop()
