"""Celery tasks of the flows app. Thin: take ids, call one engine function, return nothing.

Policy lives on the decorators: late acks and redelivery on worker loss (the claim in
PostgreSQL makes redelivery harmless), no results stored, per-step time limits passed at
publish time and kept below the broker's visibility timeout.
"""

from __future__ import annotations

import contextlib
import logging
import uuid

from django.db import transaction

from controlroom.celery import task
from flows.approvals import notices
from flows.engine import continuation, reconciler, runner, runs
from flows.models import Step
from flows.roi import rollups
from flows.triggers import dispatch, webhooks

logger = logging.getLogger(__name__)


@task(
    name="flows.step_execute",
    acks_late=True,
    reject_on_worker_lost=True,
    ignore_result=True,
)
def step_execute_task(step_id: int) -> None:
    runner.step_execute(step_id=step_id, eager=True)


@task(
    name="flows.engine_tick",
    acks_late=False,
    ignore_result=True,
    time_limit=60,
)
def engine_tick_task() -> None:
    reconciler.engine_tick()


@task(
    name="flows.dispatch_pending",
    acks_late=False,
    ignore_result=True,
    time_limit=60,
)
def dispatch_pending_task() -> None:
    dispatch.dispatch_pending()


@task(
    name="flows.webhook_receipts_prune",
    acks_late=False,
    ignore_result=True,
    time_limit=60,
)
def webhook_receipts_prune_task() -> None:
    webhooks.webhook_receipts_prune()


@task(
    name="flows.schedules_fire",
    acks_late=False,
    ignore_result=True,
    time_limit=60,
)
def schedules_fire_task() -> None:
    # croniter takes ~0.3 s to import: only the process that fires schedules pays for it.
    from flows.triggers import schedules

    schedules.schedules_fire()


@task(
    name="flows.roi_fold",
    acks_late=False,
    ignore_result=True,
    time_limit=60,
)
def roi_fold_task() -> None:
    rollups.rollup_fold_all()


@task(
    name="flows.run_cancel",
    acks_late=True,
    reject_on_worker_lost=True,
    ignore_result=True,
)
def run_cancel_task(run_id: str) -> None:
    with contextlib.suppress(runs.RunError):  # it already ended on its own
        runs.run_cancel(run_id=run_id, reason="parent run ended")


@task(
    name="flows.approval_notice_send",
    acks_late=True,
    reject_on_worker_lost=True,
    ignore_result=True,
    time_limit=60,
)
def approval_notice_send_task(notice_id: int) -> None:
    # A channel that refused is tried again by the reconciler (``notices_resend``).
    with contextlib.suppress(notices.NoticeError):
        notices.notice_send(notice_id=notice_id)


def approval_notice_send_later(notice_id: int) -> None:
    """Queue the sending of notice ``notice_id`` (registered with ``notices``)."""
    approval_notice_send_task.delay(notice_id)


def run_cancel_later(run_id: uuid.UUID) -> None:
    """Queue the cancellation of run ``run_id`` (the engine's ``run_cancel_later`` hook)."""
    run_cancel_task.delay(str(run_id))


def enqueue_after_commit(step: Step) -> None:
    """Publish ``step`` once the transaction that queued it commits (the engine's
    ``step_publish`` hook; ``flows.engine.publish.enqueue_step`` calls it except inside
    ``publish_deferred()``, where hot ingestion paths leave the step for ``dispatch_pending``).

    If the broker is down the publish fails after commit; the step stays ``queued`` with its
    ``enqueued_at`` and the reconciler publishes it again later. Nothing is lost.
    """
    publish_now(step)


def publish_now(step: Step) -> None:
    """Publish ``step`` after commit, with its time limits."""
    soft, hard = continuation.step_time_limits(step)

    def publish() -> None:
        try:
            step_execute_task.apply_async(
                (step.id,), soft_time_limit=soft, time_limit=hard, retry=False
            )
        except Exception:
            logger.warning("could not publish step %s; the reconciler will", step.id, exc_info=True)
            # Mark it unpublished so the reconciler's next pass picks it up at once.
            Step.objects.filter(id=step.id, status="queued").update(enqueued_at=None)

    transaction.on_commit(publish)
