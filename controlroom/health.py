"""Health of what the product stands on: PostgreSQL, Redis, and live Celery workers."""

from __future__ import annotations

import time
from typing import Any

import redis
from django.conf import settings
from django.db import connection

from controlroom.liveness import live_workers


def _timed(check: Any) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        detail = check()
        state = {"ok": True, **(detail or {})}
    except Exception as exc:
        state = {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:300]}
    state["ms"] = round((time.perf_counter() - started) * 1000, 1)
    return state


def _database() -> dict[str, Any]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return {}


def _redis() -> dict[str, Any]:
    client = redis.Redis.from_url(
        settings.CELERY_BROKER_URL, socket_timeout=1, socket_connect_timeout=1
    )
    try:
        client.ping()
        return {}
    finally:
        client.close()


def _workers() -> dict[str, Any]:
    names = live_workers()
    if not names:
        raise RuntimeError("no live Celery worker (none refreshed its liveness key lately)")
    return {"count": len(names), "names": names}


def health_check() -> tuple[bool, dict[str, Any]]:
    checks = {"database": _timed(_database), "redis": _timed(_redis)}
    checks["workers"] = (
        _timed(_workers) if checks["redis"]["ok"] else {"ok": False, "error": "redis is down"}
    )
    return all(check["ok"] for check in checks.values()), checks
