"""Reads shaped for pages and the API."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from django.db.models import Count, Min, OuterRef, QuerySet, Subquery

from agents.models import OutboxMessage
from flows.models import Flow, FlowVersion, Run, RunEvent, Step
from flows.states import RUN_ACTIVE, RunStatus, StepStatus


def flow_list() -> QuerySet[Flow]:
    return (
        Flow.objects.select_related("live_version")
        .annotate(run_count=Count("runs"))
        .order_by("name")
    )


def demo_present() -> bool:
    """True while the demo workspace is loaded (pages then say their figures include it)."""
    return Flow.objects.filter(demo=True).exists()


def flow_get(*, slug: str) -> Flow | None:
    return Flow.objects.select_related("live_version").filter(slug=slug).first()


def run_list(
    *,
    flow: Flow | None = None,
    status: str | None = None,
    error_class: str | None = None,
    subject: str | None = None,
    version: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> QuerySet[Run]:
    """Runs, filtered: ``error_class`` is why a failed run failed (``flows.states.ErrorClass``,
    e.g. ``rejected``); ``version`` is the flow's version number (with ``flow``); ``since`` /
    ``until`` bound when the run was created (``since`` included, ``until`` excluded)."""
    lookups = {
        "flow": flow,
        "status": status or None,
        "error_class": error_class or None,
        "subject": subject or None,
        "version__number": version,
        "created_at__gte": since,
        "created_at__lt": until,
    }
    given = {key: value for key, value in lookups.items() if value is not None}
    return Run.objects.select_related("flow", "version").filter(**given)


def run_get(*, run_id: Any) -> Run | None:
    return Run.objects.select_related("flow", "version").filter(id=run_id).first()


def run_deliveries(*, run: Run) -> dict[str, int]:
    """How many of the run's outbound messages are pending, sent or failed.

    A run's effects are keyed ``<root run>:…`` (retries share them), so a run can have
    succeeded while an e-mail it sent is still waiting for the mail server: this is what
    shows it."""
    counts = dict.fromkeys(OutboxMessage.Status.values, 0)
    rows = (
        OutboxMessage.objects.filter(effect__key__startswith=f"{run.root_run_id}:")
        .values_list("status")
        .annotate(n=Count("id"))
    )
    counts.update({status: n for status, n in rows})
    return counts


def run_steps(*, run: Run) -> list[Step]:
    return list(Step.objects.filter(run=run).order_by("id"))


def step_dict(step: Step) -> dict[str, Any]:
    return {
        "id": step.id,
        "node_id": step.node_id,
        "node_type": step.node_type,
        "scope": step.scope,
        "status": step.status,
        "attempt": step.attempt,
        "max_attempts": step.max_attempts,
        "input": step.input,
        "output": step.output,
        "error": step.error,
        "error_class": step.error_class,
        "model": step.model,
        "tokens_in": step.tokens_in,
        "tokens_out": step.tokens_out,
        "cost": str(step.cost),
        "idempotency_key": step.idempotency_key,
        "reused": step.reused_from_id is not None,
        "created_at": step.created_at.isoformat() if step.created_at else None,
        "started_at": step.started_at.isoformat() if step.started_at else None,
        "finished_at": step.finished_at.isoformat() if step.finished_at else None,
        "duration_ms": step.duration_ms,
    }


def run_dict(run: Run, *, with_steps: bool = False) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": str(run.id),
        "flow": run.flow.slug,
        "demo": run.flow.demo,
        "version": run.version.number,
        "status": run.status,
        "input": run.input,
        "subject": run.subject,
        "output": run.output,
        "error": run.error,
        "error_class": run.error_class,
        "retry_of": str(run.retry_of_id) if run.retry_of_id else None,
        "parent_step": run.parent_step_id,
        "tokens_in": run.tokens_in,
        "tokens_out": run.tokens_out,
        "cost": str(run.cost),
        "created_at": run.created_at.isoformat(),
        "started_at": run.started_at.isoformat() if run.started_at else None,
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
    }
    if with_steps:
        data["steps"] = [step_dict(step) for step in run_steps(run=run)]
        data["deliveries"] = run_deliveries(run=run)
    return data


def node_progress(*, run: Run) -> tuple[dict[str, str], dict[str, int]]:
    """Each node's state to colour it with (its latest step's status: loops show the last
    pass) and how many steps it has had (loop passes, map items), from one query."""
    states: dict[str, str] = {}
    counts: dict[str, int] = {}
    for node_id, status in (
        Step.objects.filter(run=run).order_by("id").values_list("node_id", "status")
    ):
        states[node_id] = status
        counts[node_id] = counts.get(node_id, 0) + 1
    return states, counts


ACTIVE_RUN_STATES = [
    RunStatus.QUEUED,
    RunStatus.RUNNING,
    RunStatus.WAITING_APPROVAL,
    RunStatus.PAUSED,
]
ACTIVE_STEP_STATES = [StepStatus.QUEUED, StepStatus.RUNNING, StepStatus.WAITING]


# --- Reads for the HTML pages and their live fragments -------------------------------------------


def flow_overview_list() -> QuerySet[Flow]:
    """Flows with their run count and their latest run's status and start time, for the list."""
    latest = Run.objects.filter(flow=OuterRef("pk")).order_by("-created_at")
    return flow_list().annotate(
        last_run_status=Subquery(latest.values("status")[:1]),
        last_run_at=Subquery(latest.values("created_at")[:1]),
    )


def flow_overview_get(*, flow_id: int) -> Flow | None:
    return flow_overview_list().filter(id=flow_id).first()


def flow_by_id(*, flow_id: int) -> Flow | None:
    return Flow.objects.select_related("live_version").filter(id=flow_id).first()


def flow_version_current(*, flow: Flow) -> FlowVersion | None:
    """The version a new run would use: the live one, else the latest."""
    return flow.live_version or flow.versions.order_by("-number").first()


def run_rev(*, run_id: Any) -> int:
    """How many history rows the run has. History is append-only, so a page that remembers
    this number can tell later whether anything changed since it read the run."""
    return RunEvent.objects.filter(run_id=run_id).count()


def run_step_ids(*, run_id: Any) -> list[int]:
    return list(Step.objects.filter(run_id=run_id).order_by("id").values_list("id", flat=True))


def step_get(*, step_id: int) -> Step | None:
    return Step.objects.filter(id=step_id).first()


def step_list(*, step_ids: Sequence[int]) -> list[Step]:
    """The steps of ``step_ids`` that exist, in id order, from one query (none for no ids)."""
    if not step_ids:
        return []
    return list(Step.objects.filter(id__in=step_ids).order_by("id"))


def node_load(*, version: FlowVersion) -> dict[str, Any]:
    """Where the unfinished runs of ``version`` are right now, by node: how many of its steps
    are queued or running (``active``), how many wait (an approval, a timer, a subflow), and
    since when the oldest of them waits — the live overlay's bottlenecks."""
    rows = (
        Step.objects.filter(
            run__version=version,
            run__status__in=RUN_ACTIVE,
            status__in=[StepStatus.QUEUED, StepStatus.RUNNING, StepStatus.WAITING],
        )
        .values("node_id", "status")
        .annotate(count=Count("id"), oldest=Min("created_at"))
    )
    nodes: dict[str, dict[str, Any]] = {}
    for row in rows:
        entry = nodes.setdefault(row["node_id"], {"active": 0, "waiting": 0, "waiting_since": None})
        if row["status"] == StepStatus.WAITING:
            entry["waiting"] += row["count"]
            entry["waiting_since"] = row["oldest"].isoformat()
        else:
            entry["active"] += row["count"]
    in_flight = Run.objects.filter(version=version, status__in=RUN_ACTIVE).count()
    return {"version": version.number, "runs_in_flight": in_flight, "nodes": nodes}
