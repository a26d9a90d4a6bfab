"""The INFO log of an idle stack: the periodic housekeeping tasks' bookkeeping lines are
dropped by the console handler the settings configure; real work stays visible."""

from __future__ import annotations

import logging

import pytest
from celery.app import trace
from django.conf import settings

from controlroom.observability.housekeeping import HousekeepingFilter
from flows.tasks import roi_fold_task


@pytest.fixture
def console() -> logging.Handler:
    """The root handler ``settings.LOGGING`` installed (the one the workers write with)."""
    handlers = [
        handler
        for handler in logging.getLogger().handlers
        if any(isinstance(f, HousekeepingFilter) for f in handler.filters)
    ]
    assert len(handlers) == 1
    return handlers[0]


def _shown(console: logging.Handler, records: list[logging.LogRecord]) -> list[str]:
    return [record.getMessage() for record in records if console.filter(record)]


def test_every_beat_scheduled_task_counts_as_housekeeping(console) -> None:
    (quiet,) = [f for f in console.filters if isinstance(f, HousekeepingFilter)]
    scheduled = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert quiet.tasks == scheduled
    assert "flows.dispatch_pending" in scheduled and "flows.step_execute" not in scheduled


@pytest.mark.django_db
def test_a_housekeeping_task_that_did_nothing_logs_nothing_at_info(console, caplog) -> None:
    with caplog.at_level(logging.INFO):
        roi_fold_task.apply()
    succeeded = [r for r in caplog.records if "flows.roi_fold" in r.getMessage()]
    assert succeeded, "Celery logged no success line: the test would prove nothing"
    assert _shown(console, succeeded) == []


def test_beat_and_worker_bookkeeping_of_housekeeping_is_dropped(console, caplog) -> None:
    with caplog.at_level(logging.INFO):
        # The calls Celery makes, with its own format strings.
        logging.getLogger("celery.beat").info(
            "Scheduler: Sending due task %s (%s)", "audit-seal", "agents.audit_seal"
        )
        context = {"id": "x", "name": "agents.audit_seal", "args": "()", "kwargs": "{}"}
        logging.getLogger("celery.worker.strategy").info(trace.LOG_RECEIVED, context)
    assert len(caplog.records) == 2
    assert _shown(console, caplog.records) == []


def test_real_work_and_failures_stay_visible(console, caplog) -> None:
    with caplog.at_level(logging.INFO):
        step = {"id": "s", "name": "flows.step_execute", "return_value": "None", "runtime": 0.1}
        trace.info(trace.LOG_SUCCESS, {**step, "args": "(1,)", "kwargs": "{}"})
        logging.getLogger("celery.app.trace").error(
            "Task %(name)s[%(id)s] raised", {"name": "flows.roi_fold", "id": "r"}
        )
        logging.getLogger("flows.engine.reconciler").info("engine tick: %s", "requeued=2")
    shown = _shown(console, caplog.records)
    assert len(shown) == 3
    assert "flows.step_execute" in shown[0] and "engine tick" in shown[2]
