"""Fixed-window rate limits counted in Redis (INCR + EXPIRE): shared by every web process."""

from __future__ import annotations

import logging
import time

import redis
from django.conf import settings

logger = logging.getLogger(__name__)
_client: redis.Redis | None = None


def _redis() -> redis.Redis:
    global _client
    if _client is None:
        _client = redis.Redis.from_url(
            settings.CELERY_BROKER_URL, socket_timeout=0.5, socket_connect_timeout=0.5
        )
    return _client


def hit(key: str, *, limit: int, window: int) -> int | None:
    """Count one request against ``key``; returns None when allowed, else the seconds until
    the window resets (for ``Retry-After``). If Redis cannot be reached the request is
    allowed (and logged): a limiter outage must not take the endpoint down with it."""
    bucket = int(time.time() // window)
    name = f"ratelimit:{key}:{bucket}"
    try:
        pipe = _redis().pipeline()
        pipe.incr(name)
        pipe.expire(name, window + 1)
        count = int(pipe.execute()[0])
    except redis.RedisError:
        logger.warning("rate limiter unavailable; allowing %s", key, exc_info=True)
        return None
    if count <= limit:
        return None
    return max(1, int((bucket + 1) * window - time.time()) + 1)
