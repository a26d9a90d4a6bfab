"""Celery tasks of the agents app: thin adapters over domain functions."""

from __future__ import annotations

from agents import audit, memory, outbox
from controlroom.celery import task


@task(
    name=outbox.DELIVER_TASK,
    acks_late=True,
    reject_on_worker_lost=True,
    ignore_result=True,
    time_limit=120,
)
def outbox_deliver_task(message_id: int) -> None:
    """Deliver one outbox row. Idempotent per row; a refusal is retried by the re-drive at the
    row's ``next_attempt_at`` (retry as data in PostgreSQL, not a Celery countdown)."""
    outbox.outbox_deliver(message_id=message_id)


@task(
    name="agents.outbox_redrive",
    acks_late=False,
    ignore_result=True,
    time_limit=60,
)
def outbox_redrive_task() -> None:
    """Every few seconds (Celery beat): publish again the pending rows whose delivery is due."""
    outbox.outbox_redrive()


@task(
    name="agents.memory_purge",
    acks_late=True,
    reject_on_worker_lost=True,
    ignore_result=True,
    soft_time_limit=600,
    time_limit=660,
)
def memory_purge_task() -> None:
    """Hourly (Celery beat): expired memory goes, each key is trimmed. Idempotent."""
    memory.memory_purge()


@task(
    name="agents.audit_seal",
    acks_late=False,
    ignore_result=True,
    time_limit=60,
)
def audit_seal_task() -> None:
    """Every second (Celery beat): chain the audit rows committed since the last pass. A pass
    still sealing makes this one return at once (advisory lock, no queueing)."""
    audit.audit_seal(wait=False)
