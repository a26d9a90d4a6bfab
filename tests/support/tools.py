"""Tools that exist only in the test settings, for fault injection and counting executions.

Counters live in the test Redis so that every worker process sees the same numbers.
"""

from __future__ import annotations

import os
import signal
import time
from typing import Any

import psycopg
import redis
from django.conf import settings
from django.db import connection

from agents.tools.base import Tool, ToolCall, ToolError, ToolTransientError
from agents.tools.builtins import SEND_EMAIL


def _redis() -> redis.Redis:
    return redis.Redis.from_url(settings.CELERY_BROKER_URL)


def calls(key: str) -> int:
    """How many times a counting tool ran for idempotency key ``key``."""
    return int(_redis().get(f"test:calls:{key}") or 0)


def set_flag(name: str, value: bool) -> None:
    if value:
        _redis().set(f"test:flag:{name}", 1)
    else:
        _redis().delete(f"test:flag:{name}")


def _count(call: ToolCall) -> int:
    return int(_redis().incr(f"test:calls:{call.idempotency_key}"))


def _slow_email(call: ToolCall) -> Any:
    """Send an e-mail (a real ledgered side effect), then stay busy so a test can kill us."""
    _count(call)
    args = dict(call.args)
    seconds = float(args.pop("sleep", 0))
    result = SEND_EMAIL.call(
        ToolCall(args=args, idempotency_key=call.idempotency_key, subject=call.subject)
    )
    if not result["replayed"]:
        time.sleep(seconds)
    return result


def _counted_sleep(call: ToolCall) -> Any:
    number = _count(call)
    time.sleep(float(call.args.get("seconds", 0)))
    return {"call": number}


def _crash_worker(call: ToolCall) -> Any:
    _count(call)
    os.kill(os.getpid(), signal.SIGKILL)
    return None  # never reached


def _flaky(call: ToolCall) -> Any:
    number = _count(call)
    if number <= int(call.args.get("failures", 1)):
        raise ToolTransientError(f"flaky failure {number}", retry_after=0)
    return {"succeeded_on_call": number}


def _fail_while_flagged(call: ToolCall) -> Any:
    _count(call)
    if _redis().exists(f"test:flag:{call.args['flag']}"):
        raise ToolError(f"flag {call.args['flag']} is set")
    return {"ok": True}


def _lose_database(call: ToolCall) -> Any:
    """On its first call for a key, have PostgreSQL drop this process's database connection (as
    a database restart would); ``then: "query"`` touches the database right after, so the step
    itself sees the error, otherwise the step's completion is the first to find it."""
    number = _count(call)
    if number == 1:
        connection.ensure_connection()
        pid = connection.connection.info.backend_pid
        with psycopg.connect(**connection.get_connection_params(), autocommit=True) as other:
            other.execute("SELECT pg_terminate_backend(%s)", [pid])
        if call.args.get("then") == "query":
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
    return {"call": number}


_ANY = {"type": "object"}

TOOLS = [
    Tool("slow_email", "outbound_message", "send_email, then sleep", _ANY, _slow_email),
    Tool("counted_sleep", "read", "count the call, then sleep", _ANY, _counted_sleep),
    Tool("crash_worker", "read", "SIGKILL the worker process running it", _ANY, _crash_worker),
    Tool("flaky", "read", "fail transiently N times, then succeed", _ANY, _flaky),
    Tool("lose_database", "read", "drop the worker's database connection", _ANY, _lose_database),
    Tool(
        "fail_while_flagged", "write", "fail while a Redis flag is set", _ANY, _fail_while_flagged
    ),
]
