"""Reads for the control-room home page: the headline counters, worker and queue health, and
the stuck-run alarm. Every number is read from PostgreSQL (and Redis for the broker) when the
page or its live fragment renders, so any number of web processes agree.

"Progress" for the stuck-run alarm is the latest of the run's history rows and its running
steps' heartbeats: a step that is busy on a slow model call is alive, not stuck. A run is stuck
when it is queued or running, has a step that should be moving (queued, or running), and has
made no progress for ``CONTROLROOM_STUCK_AFTER`` seconds. Runs that only wait (on a person, a
timer, a subflow) are not stuck.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import redis
from django.conf import settings
from django.db.models import Exists, F, Min, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone

from controlroom import liveness
from controlroom.roles import Capability, can
from flows.models import Approval, Run, RunEvent, Step
from flows.pages import format_duration
from flows.roi import period_totals
from flows.states import RUN_ACTIVE, ApprovalStatus, RunStatus, StepStatus

STUCK_CANDIDATES = [RunStatus.QUEUED, RunStatus.RUNNING]
#: Celery's queues (``CELERY_TASK_ROUTES``); kombu's Redis transport keeps one list per
#: priority level, the default level under the plain name.
QUEUES = ("steps", "control")
PRIORITY_SUFFIXES = ("", "\x06\x163", "\x06\x166", "\x06\x169")
STUCK_LIMIT = 20
FEED_SIZE = 10


@dataclass(frozen=True)
class Counters:
    in_flight: int
    approvals_waiting: int
    oldest_approval: Approval | None
    failures_24h: int
    spend_today: Decimal
    time_saved_week_minutes: Decimal


@dataclass(frozen=True)
class Health:
    workers: list[str]
    queues: dict[str, int | None]  # None: the broker did not answer
    oldest_queued_at: datetime | None

    @property
    def queue_total(self) -> int | None:
        values = list(self.queues.values())
        return None if any(v is None for v in values) else sum(v or 0 for v in values)

    @property
    def broker_down(self) -> bool:
        return any(v is None for v in self.queues.values())


def stuck_after() -> timedelta:
    return timedelta(seconds=settings.CONTROLROOM["OBSERVABILITY"].stuck_after_seconds)


def start_of_day(now: datetime) -> datetime:
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


def start_of_week(now: datetime) -> datetime:
    """Monday 00:00 UTC of ``now``'s week."""
    return start_of_day(now) - timedelta(days=now.weekday())


def home_counters(*, now: datetime | None = None) -> Counters:
    now = now or timezone.now()
    pending = Approval.objects.filter(status=ApprovalStatus.PENDING)
    today = period_totals(since=start_of_day(now), until=now + timedelta(seconds=1))
    week = period_totals(since=start_of_week(now), until=now + timedelta(seconds=1))
    return Counters(
        in_flight=Run.objects.filter(status__in=RUN_ACTIVE).count(),
        approvals_waiting=pending.count(),
        oldest_approval=pending.select_related("run__flow").order_by("created_at", "id").first(),
        failures_24h=Run.objects.filter(
            status=RunStatus.FAILED, finished_at__gte=now - timedelta(hours=24)
        ).count(),
        spend_today=Decimal(today["cost"]),
        time_saved_week_minutes=Decimal(week["time_saved_minutes"]),
    )


def queue_depths() -> dict[str, int | None]:
    """Messages waiting in each Celery queue (Redis ``LLEN``); None when Redis is away."""
    try:
        client = redis.Redis.from_url(
            settings.CELERY_BROKER_URL, socket_timeout=2, socket_connect_timeout=2
        )
        try:
            pipe = client.pipeline(transaction=False)
            for queue in QUEUES:
                for suffix in PRIORITY_SUFFIXES:
                    pipe.llen(queue + suffix)
            lengths = pipe.execute()
        finally:
            client.close()
    except redis.RedisError:
        return dict.fromkeys(QUEUES)
    per = len(PRIORITY_SUFFIXES)
    return {q: int(sum(lengths[i * per : (i + 1) * per])) for i, q in enumerate(QUEUES)}


def live_workers() -> list[str]:
    try:
        return liveness.live_workers()
    except redis.RedisError:
        return []


def oldest_queued_at() -> datetime | None:
    """When the longest-waiting queued step that is due became due (or was created)."""
    now = timezone.now()
    row = Step.objects.filter(
        status=StepStatus.QUEUED, run__status__in=[*STUCK_CANDIDATES, RunStatus.WAITING_APPROVAL]
    ).aggregate(
        due=Min(
            Coalesce("due_at", "created_at"), filter=Q(due_at__isnull=True) | Q(due_at__lte=now)
        )
    )
    due: datetime | None = row["due"]
    return due


def home_health() -> Health:
    return Health(
        workers=live_workers(), queues=queue_depths(), oldest_queued_at=oldest_queued_at()
    )


def stuck_runs(*, now: datetime | None = None, limit: int = STUCK_LIMIT) -> list[Run]:
    """Live runs with something that should move and no progress since ``stuck_after()`` ago,
    longest-stuck first; each carries ``last_progress_at``."""
    now = now or timezone.now()
    cutoff = now - stuck_after()
    last_event = RunEvent.objects.filter(run=OuterRef("pk")).order_by("-at").values("at")[:1]
    last_beat = (
        Step.objects.filter(run=OuterRef("pk"), status=StepStatus.RUNNING)
        .order_by(F("heartbeat_at").desc(nulls_last=True))
        .values("heartbeat_at")[:1]
    )
    movable = Step.objects.filter(
        run=OuterRef("pk"), status__in=[StepStatus.QUEUED, StepStatus.RUNNING]
    )
    return list(
        Run.objects.select_related("flow")
        .filter(status__in=STUCK_CANDIDATES, created_at__lt=cutoff)
        .filter(Exists(movable))
        .annotate(
            last_progress_at=Greatest(
                Coalesce(Subquery(last_event), F("created_at")),
                Coalesce(Subquery(last_beat), F("created_at")),
            )
        )
        .filter(last_progress_at__lt=cutoff)
        .order_by("last_progress_at")[:limit]
    )


def home_context(*, user: Any) -> dict[str, Any]:
    """Everything the home page's live panels render (``templates/flows/home.html``)."""
    return {
        "counters": home_counters(),
        "health": home_health(),
        "stuck": stuck_runs(),
        "stuck_after_label": format_duration(int(stuck_after().total_seconds() * 1000)),
        "can_operate": can(user, Capability.OPERATE),
    }
