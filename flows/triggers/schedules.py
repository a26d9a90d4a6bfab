"""Schedule triggers: due times live in PostgreSQL (``Trigger.next_due_at``) and a beat task
(``flows.schedules_fire``, every ~15 s) starts the runs that are due. Never Celery countdowns.

Missed runs (the scheduler was down past a due time): ``skip`` starts nothing for them and
waits for the next due time; ``catch_up_once`` starts one run for all of them, then waits.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from flows.engine import runs
from flows.models import Flow, FlowVersion, Trigger
from flows.triggers import config, live

logger = logging.getLogger(__name__)

# A due time older than this when the beat task sees it counts as missed (the beat runs every
# ~15 s, so an on-time firing is never this late).
MISSED_AFTER = timedelta(seconds=90)
BATCH = 200


def trigger_sync(*, flow: Flow, version: FlowVersion) -> Trigger | None:
    """Make ``flow``'s Trigger row match ``version``'s trigger block (called on publish, in
    its transaction). A schedule's next due time is computed from now; a manual trigger (or
    none) keeps no row."""
    block: dict[str, Any] = dict(version.document.get("trigger") or {})
    kind = block.get("type", "manual")
    if kind == "manual":
        Trigger.objects.filter(flow=flow).delete()
        return None
    next_due = config.next_after(block, timezone.now()) if kind == "schedule" else None
    trigger, _ = Trigger.objects.update_or_create(
        flow=flow,
        defaults={"kind": kind, "config": block, "enabled": True, "next_due_at": next_due},
    )
    return trigger


def schedules_fire(*, now: datetime | None = None) -> int:
    """Start a run for every schedule due by ``now``; returns how many were started.

    Each due time starts at most one run, whatever the retries: the run's idempotency key is
    the due time. Rows are taken ``SKIP LOCKED`` so overlapping beats do not double-fire."""
    now = now or timezone.now()
    started = 0
    with transaction.atomic():
        due = list(
            Trigger.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("flow")
            .filter(kind="schedule", enabled=True, next_due_at__lte=now)
            .order_by("next_due_at")[:BATCH]
        )
        for trigger in due:
            started += _fire(trigger, now)
    return started


def _fire(trigger: Trigger, now: datetime) -> int:
    due_at = trigger.next_due_at
    assert due_at is not None
    block = trigger.config
    missed = now - due_at > MISSED_AFTER
    fire = not missed or block.get("missed", "skip") == "catch_up_once"
    started = 0
    if fire:
        try:
            with transaction.atomic():
                _, created = runs.run_start(
                    flow=trigger.flow,
                    version=live.trigger_version_get(flow=trigger.flow),
                    input=dict(block.get("input", {})),
                    idempotency_key=f"schedule:{due_at.isoformat()}",
                    defer_publish=True,
                )
            started = int(created)
        except (runs.RunError, live.NotLive) as exc:
            logger.warning("schedule of flow %s could not start a run: %s", trigger.flow, exc)
    Trigger.objects.filter(id=trigger.id).update(
        next_due_at=config.next_after(block, max(now, due_at)),
        last_fired_at=now if started else trigger.last_fired_at,
    )
    return started
