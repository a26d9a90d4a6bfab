"""The backstop: whatever a crash, a lost message or a broker outage stranded, bring it back.

Runs every few seconds from the scheduler (Celery beat → ``flows.engine_tick``). Each part is
a bounded batch of compare-and-set moves, safe to run twice at once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import redis
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from flows.engine import nodes, transitions, waits
from flows.engine.hooks import HOOKS
from flows.engine.scheduler import Advance, enqueue_step
from flows.models import Step
from flows.states import RunStatus, StepStatus

logger = logging.getLogger(__name__)

BATCH = 500
LIVE_RUN_STATES = [RunStatus.QUEUED, RunStatus.RUNNING, RunStatus.WAITING_APPROVAL]


@dataclass
class TickReport:
    requeued: int = 0
    lapsed: int = 0
    fired: int = 0
    approvals: int = 0
    events: int = 0


def engine_tick() -> TickReport:
    """One reconciler pass: lapsed heartbeats, due timers, due approval reminders and
    deadlines, then (re-)enqueue queued steps."""
    report = TickReport()
    report.lapsed = recover_lapsed()
    report.fired = fire_due_waits()
    report.approvals = fire_due_approvals()
    report.requeued = requeue_stranded()
    report.events = HOOKS.events_catch_up()  # event triggers' lost hand-offs
    if report.requeued or report.lapsed or report.fired or report.approvals or report.events:
        logger.info("engine tick: %s", report)
    return report


EPOCH_KEY = "controlroom:broker-epoch"
STEPS_QUEUE = "steps"


@dataclass
class BrokerState:
    """What the reconciler needs to know about Redis to tell a lost message from a slow one."""

    reset: bool  # Redis came back empty (restart without persistence, flush): messages are gone
    backlog: int  # messages waiting in the steps queue


def broker_state() -> BrokerState:
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL, socket_timeout=5)
    try:
        # The marker is created once per Redis lifetime; finding it missing means every
        # message published before now is gone.
        reset = bool(client.set(EPOCH_KEY, timezone.now().isoformat(), nx=True))
        backlog = int(client.llen(STEPS_QUEUE))
    finally:
        client.close()
    return BrokerState(reset=reset, backlog=backlog)


def requeue_stranded(state: BrokerState | None = None) -> int:
    """Publish queued steps whose message is missing. A step is re-published when it was never
    published (or its publish failed), when Redis lost its messages, when it has waited past
    ``REQUEUE_AFTER_SECONDS`` while the steps queue is empty (its message went to a worker that
    died before claiming it), or when it has waited longer than the broker's visibility timeout.
    A slow but healthy backlog is left alone: flooding it with duplicates would only slow it
    down. A duplicate is harmless anyway — the claim lets only one through."""
    now = timezone.now()
    state = state or broker_state()
    lost_after = float(settings.CONTROLROOM["REQUEUE_AFTER_SECONDS"])
    visibility = float(settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"])
    missing = Q(enqueued_at__isnull=True) | Q(enqueued_at__lt=now - timedelta(seconds=visibility))
    if state.reset:
        missing |= Q(enqueued_at__lt=now)
    elif state.backlog == 0:
        missing |= Q(enqueued_at__lt=now - timedelta(seconds=lost_after))
    with transaction.atomic():
        steps = list(
            # Only the step rows: the run and version are read, not locked.
            Step.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("run__version")
            .filter(status=StepStatus.QUEUED, run__status__in=LIVE_RUN_STATES)
            .filter(Q(due_at__isnull=True) | Q(due_at__lte=now))
            .filter(missing)
            .order_by("id")[:BATCH]
        )
        for step in steps:
            Step.objects.filter(id=step.id).update(enqueued_at=now)
            enqueue_step(step)
    return len(steps)


def recover_lapsed() -> int:
    """Running steps whose heartbeat lapsed lost their worker: queue them again (the attempt
    count caps how often) or, with attempts used up, fail them.

    A heartbeat can only lapse while the database takes heartbeats: right after PostgreSQL
    (re)started, every heartbeat looks old although the workers are alive and about to
    complete. Nothing counts as lapsed until the server has been up for a whole lapse period
    (``_heartbeats_comparable``). A worker cut off from a database that stays up is, to the
    reconciler, a lost worker: its step is requeued, the attempt fence discards the late
    completion, and ledgered effects are not repeated."""
    lapse = float(settings.CONTROLROOM["HEARTBEAT_LAPSE_SECONDS"])
    if not _heartbeats_comparable(lapse):
        return 0
    cutoff = timezone.now() - timedelta(seconds=lapse)
    ids = list(
        Step.objects.filter(status=StepStatus.RUNNING, heartbeat_at__lt=cutoff)
        .order_by("id")
        .values_list("id", "run_id")[:BATCH]
    )
    for step_id, run_id in ids:
        with transaction.atomic():
            advance = Advance.open(run_id)
            step = Step.objects.get(id=step_id)
            if step.status != StepStatus.RUNNING or step.heartbeat_at is None:
                continue
            if step.heartbeat_at >= cutoff:
                continue
            _requeue_lapsed(advance, step, lapse)
    return len(ids)


def _requeue_lapsed(advance: Advance, step: Step, lapse: float) -> None:
    """A running step lost its worker (run locked by the caller): queue it again, or fail it
    with its attempts used up."""
    message = f"worker lost during attempt {step.attempt} (no heartbeat for {lapse:g}s)"
    if step.attempt >= step.max_attempts:
        advance.fail_step(step, f"gave up after {step.attempt} attempts: {message}", "crash")
        advance.drain()
        return
    transitions.step_move(
        step,
        StepStatus.QUEUED,
        where=Q(attempt=step.attempt),
        error=message,
        error_class="crash",
        enqueued_at=None,
        data={"reason": message},
    )


def _heartbeats_comparable(lapse: float) -> bool:
    """True when the database server has been up for at least ``lapse`` seconds, so a step's
    worker has had a whole lapse period to write a heartbeat."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT EXTRACT(EPOCH FROM now() - pg_postmaster_start_time())")
        row = cursor.fetchone()
    return row is not None and float(row[0]) >= lapse


def run_requeue(*, run_id: Any, by: str = "") -> int:
    """The stuck-run alarm's "requeue": the reconciler's two recoveries, for one run, now
    instead of when their timeouts come. Running steps whose heartbeat lapsed are queued again
    (or failed with their attempts used up, as ``recover_lapsed`` does); queued steps that are
    due are published again (as ``requeue_stranded`` does — a duplicate message is harmless,
    the claim lets one through). Steps with a fresh heartbeat are left alone: their worker is
    alive. Returns how many steps were requeued or republished; 0 for a run that ended."""
    lapse = float(settings.CONTROLROOM["HEARTBEAT_LAPSE_SECONDS"])
    now = timezone.now()
    with transaction.atomic():
        advance = Advance.open(run_id)
        if advance.run.status not in LIVE_RUN_STATES:
            return 0
        # Each step counts once: a lapsed step requeued here is also published just below.
        touched: set[int] = set()
        lapsed = Q(heartbeat_at__isnull=True) | Q(heartbeat_at__lt=now - timedelta(seconds=lapse))
        for step in Step.objects.filter(run=advance.run, status=StepStatus.RUNNING).filter(lapsed):
            _requeue_lapsed(advance, step, lapse)
            touched.add(step.id)
        due = Q(due_at__isnull=True) | Q(due_at__lte=now)
        for step in (
            Step.objects.select_related("run__version")
            .filter(run=advance.run, status=StepStatus.QUEUED)
            .filter(due)
            .order_by("id")
        ):
            Step.objects.filter(id=step.id).update(enqueued_at=now)
            enqueue_step(step)
            touched.add(step.id)
        transitions.run_note(advance.run, "run.requeued", {"steps": len(touched), "by": by})
    return len(touched)


def fire_due_waits() -> int:
    """Resume waiting steps whose time has come (of the node types that wake at a due time,
    ``NodeType.wakes_at_due_time``: ``wait``)."""
    now = timezone.now()
    timed = nodes.waking_at_due_time()
    due = list(
        Step.objects.filter(status=StepStatus.WAITING, node_type__in=timed, due_at__lte=now)
        .order_by("due_at")
        .values_list("id", "run_id")[:BATCH]
    )
    for step_id, run_id in due:
        with transaction.atomic():
            advance = Advance.open(run_id)
            if advance.run.status not in LIVE_RUN_STATES:
                continue
            step = Step.objects.get(id=step_id)
            waits.resume(advance, step, {})
            advance.drain()
    return len(due)


def fire_due_approvals() -> int:
    """Approvals whose reminder or deadline came: remind, escalate, auto-reject or (where the
    node allows it) auto-approve them; then re-send reminder and escalation notices whose task
    was lost (the ``approvals_due`` hook: ``flows.approvals.deadlines.approvals_due_fire``).
    Returns how many approvals were acted on."""
    return HOOKS.approvals_due()
