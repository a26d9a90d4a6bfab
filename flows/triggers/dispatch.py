"""Batched hand-off of accepted runs to the workers.

Hot ingestion paths (webhooks) commit a run with its first steps but publish nothing per
request (a Celery publish costs more than the insert): ``run_start(defer_publish=True)`` (the
engine's ``publish_deferred()``) leaves queued steps with ``enqueued_at`` NULL, and
``dispatch_pending`` (a beat task every
``CONTROLROOM_DISPATCH_EVERY_SECONDS``) publishes them in batches. The reconciler picks up the
same rows as a backstop, so nothing committed is lost if this task is late or fails.
"""

from __future__ import annotations

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from flows.engine.scheduler import enqueue_step
from flows.models import Step
from flows.states import RunStatus, StepStatus

BATCH = 1000
_LIVE = [RunStatus.QUEUED, RunStatus.RUNNING, RunStatus.WAITING_APPROVAL]


def dispatch_pending(*, limit: int = BATCH) -> int:
    """Publish up to ``limit`` queued, due, never-published steps; returns how many.

    Rows are claimed with ``SKIP LOCKED`` and stamped ``enqueued_at`` in one statement, so two
    dispatchers (or the reconciler) do not both take a row; a duplicate message would be
    harmless anyway (the step claim lets one through)."""
    now = timezone.now()
    with transaction.atomic():
        steps = list(
            Step.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("run__version")
            .filter(status=StepStatus.QUEUED, enqueued_at__isnull=True, run__status__in=_LIVE)
            .filter(Q(due_at__isnull=True) | Q(due_at__lte=now))
            .order_by("id")[:limit]
        )
        Step.objects.filter(id__in=[step.id for step in steps]).update(enqueued_at=now)
        for step in steps:
            enqueue_step(step)  # after commit
    return len(steps)
