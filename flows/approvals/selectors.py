"""Reads for the inbox, the approval detail, the API and the decision rollups."""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Avg, Count, F, Q, QuerySet
from django.utils import timezone

from controlroom import expressions
from controlroom.roles import Capability, can
from flows import graph as graphs
from flows.approvals.access import decidable_by
from flows.engine import context
from flows.models import Approval, Flow, RunEvent, Step
from flows.states import ApprovalStatus, StepStatus

#: Age and deadline filters of the inbox: name → (label, how far).
AGES = {
    "1h": ("older than 1 hour", timedelta(hours=1)),
    "4h": ("older than 4 hours", timedelta(hours=4)),
    "1d": ("older than 1 day", timedelta(days=1)),
}
DUES = {
    "1h": ("due within 1 hour", timedelta(hours=1)),
    "1d": ("due within 24 hours", timedelta(days=1)),
    "none": ("no deadline", None),
}
HUMAN = [
    Approval.Resolution.APPROVED,
    Approval.Resolution.EDITED,
    Approval.Resolution.REJECTED,
    Approval.Resolution.SENT_BACK,
]


def approval_base() -> QuerySet[Approval]:
    return Approval.objects.select_related(
        "run", "run__flow", "step", "decided_by", "assignee_user"
    )


def approval_get(*, approval_id: int) -> Approval | None:
    return approval_base().filter(id=approval_id).first()


def approval_list(*, status: str | None = None) -> QuerySet[Approval]:
    """Every approval, or those in ``status``, read as ``approval_base`` does."""
    approvals = approval_base()
    if status:
        approvals = approvals.filter(status=status)
    return approvals


def approval_dict(approval: Approval) -> dict[str, Any]:
    """One approval as the API answers it (``ApprovalOut``); read it with ``approval_base``."""
    return {
        "id": approval.id,
        "run_id": str(approval.run_id),
        "flow": approval.run.flow.slug,
        "node_id": approval.step.node_id,
        "source": approval.source,
        "status": approval.status,
        "title": approval.title,
        "instructions": approval.instructions,
        "draft": approval.draft,
        "reason": approval.reason,
        "assignee_role": approval.assignee_role,
        "shown_hash": approval.shown_hash,
        "deadline_at": approval.deadline_at.isoformat() if approval.deadline_at else None,
        "decision_output": approval.decision_output,
        "decision_reason": approval.decision_reason,
        "decided_by": approval.decided_by.username if approval.decided_by else None,
        "decided_at": approval.decided_at.isoformat() if approval.decided_at else None,
        "created_at": approval.created_at.isoformat(),
        "agent": approval.agent,
        "round": approval.round,
        "assignee_user": approval.assignee_user.get_username() if approval.assignee_user else None,
        "on_deadline": approval.on_deadline,
        "escalated_at": _iso(approval.escalated_at),
        "first_opened_at": _iso(approval.first_opened_at),
        "resolution": approval.resolution,
        "edit_distance": approval.edit_distance,
        "sampled": approval.sampled,
        "review_ms": approval.review_ms,
        "review_source": approval.review_source,
    }


def _iso(value: Any) -> str | None:
    return value.isoformat() if value else None


@dataclass(frozen=True)
class InboxFilters:
    """What the inbox shows: ``scope`` "mine" (what I may decide) or "all" pending; the rest
    narrow it. Unknown values are dropped, never errors: filters come from a URL."""

    scope: str = "mine"
    flow: str = ""
    agent: str = ""
    reason: str = ""
    age: str = ""
    due: str = ""

    @classmethod
    def parse(cls, params: Any, *, user: Any) -> InboxFilters:
        default = "mine" if can(user, Capability.DECIDE) else "all"
        scope = params.get("scope") or default

        def text(name: str, limit: int) -> str:
            # PostgreSQL refuses NUL in text: such a filter matches nothing anyway.
            return str(params.get(name) or "").replace("\x00", "")[:limit]

        return cls(
            scope=scope if scope in {"mine", "all"} else default,
            flow=text("flow", 80),
            agent=text("agent", 100),
            reason=text("reason", 300),
            age=params.get("age") if params.get("age") in AGES else "",
            due=params.get("due") if params.get("due") in DUES else "",
        )

    def as_params(self) -> dict[str, str]:
        """The filters as URL parameters (``scope=mine``, the deciders' default, left out)."""
        return {
            name: value
            for name, value in self.__dict__.items()
            if value and not (name == "scope" and value == "mine")
        }

    @property
    def narrowed(self) -> bool:
        return bool(self.flow or self.agent or self.reason or self.age or self.due)


def inbox_list(*, user: Any, filters: InboxFilters) -> QuerySet[Approval]:
    """Pending approvals for the inbox, soonest deadline first (none last), then oldest."""
    approvals = approval_base().filter(status=ApprovalStatus.PENDING)
    if filters.scope == "mine":
        mine = decidable_by(user)
        approvals = approvals.filter(mine) if mine is not None else approvals.none()
    now = timezone.now()
    if filters.flow:
        approvals = approvals.filter(run__flow__slug=filters.flow)
    if filters.agent:
        approvals = approvals.filter(agent=filters.agent)
    if filters.reason:
        approvals = approvals.filter(reason=filters.reason)
    if filters.age:
        approvals = approvals.filter(created_at__lte=now - AGES[filters.age][1])
    if filters.due == "none":
        approvals = approvals.filter(deadline_at__isnull=True)
    elif filters.due:
        window = DUES[filters.due][1]
        assert window is not None
        approvals = approvals.filter(deadline_at__lte=now + window)
    return approvals.order_by(F("deadline_at").asc(nulls_last=True), "created_at", "id")


def inbox_matches(approval: Approval, *, user: Any, filters: InboxFilters) -> bool:
    return inbox_list(user=user, filters=filters).filter(id=approval.id).exists()


def inbox_sort_key(approval: Approval) -> tuple[int, float, float, int]:
    """The inbox order as a Python key (for placing a new row among the ones shown)."""
    deadline = approval.deadline_at.timestamp() if approval.deadline_at else 0.0
    return (
        1 if approval.deadline_at is None else 0,
        deadline,
        approval.created_at.timestamp(),
        approval.id,
    )


def inbox_count(*, user: Any) -> int:
    """The navigation badge: approvals I may decide (everyone pending for read-only roles)."""
    pending = Approval.objects.filter(status=ApprovalStatus.PENDING)
    if not can(user, Capability.DECIDE):
        return pending.count()
    mine = decidable_by(user)
    return pending.filter(mine).count() if mine is not None else 0


@dataclass(frozen=True)
class FilterOptions:
    flows: list[tuple[str, str]]
    agents: list[str]
    reasons: list[str]


def inbox_filter_options() -> FilterOptions:
    """The choices for the inbox filters: what pending approvals have."""
    pending = Approval.objects.filter(status=ApprovalStatus.PENDING)
    flows = list(
        Flow.objects.filter(runs__approvals__status=ApprovalStatus.PENDING)
        .distinct()
        .order_by("name")
        .values_list("slug", "name")
    )
    agents = sorted(set(pending.exclude(agent="").values_list("agent", flat=True)[:200]))
    reasons = sorted(set(pending.values_list("reason", flat=True)[:200]))[:50]
    return FilterOptions(flows=flows, agents=agents, reasons=reasons)


# --- the detail ------------------------------------------------------------------------------


@dataclass(frozen=True)
class PriorStep:
    node_id: str
    name: str
    node_type: str
    scope: str
    output: Any


def run_so_far(approval: Approval) -> list[PriorStep]:
    """The run's succeeded steps before the approval, in order, with their outputs."""
    run = approval.run
    nodes = graphs.for_version(run.version_id, run.version.document).nodes
    steps = Step.objects.filter(
        run_id=run.id, status=StepStatus.SUCCEEDED, id__lt=approval.step_id
    ).order_by("id")
    return [
        PriorStep(
            node_id=step.node_id,
            name=str(nodes.get(step.node_id, {}).get("name") or step.node_id),
            node_type=step.node_type,
            scope=step.scope,
            output=step.output,
        )
        for step in steps[:100]
    ]


@dataclass(frozen=True)
class Memory:
    """What long-term memory holds about the run's subject; ``available`` False when this
    installation has no memory (the module is missing) — not the same as "nothing known"."""

    available: bool
    keys: list[str] = field(default_factory=list)
    entries: list[dict[str, Any]] = field(default_factory=list)


def subject_memory(approval: Approval, *, limit: int = 10) -> Memory:
    try:
        memory = importlib.import_module("agents.memory")
        recall, key_of = memory.memory_recall, memory.memory_key
    except (ImportError, AttributeError):
        return Memory(available=False)
    run = approval.run
    variables = context.variables(
        run=run, scope="", outputs=context.Outputs.load(run.id), step_input={}
    )
    keys: list[str] = []
    for spec in (run.version.frozen_agents or {}).values():
        template = spec.get("memory_scope") if isinstance(spec, dict) else None
        if not template:
            continue
        try:
            key = key_of(scope_template=str(template), variables=variables)
        except expressions.ExpressionError:
            continue
        if key and key not in keys:
            keys.append(key)
    entries: list[dict[str, Any]] = []
    for key in keys:
        entries += [{**entry, "key": key} for entry in recall(key=key, limit=limit)]
    entries.sort(key=lambda entry: entry.get("created_at") or "", reverse=True)
    return Memory(available=True, keys=keys, entries=entries[:limit])


def approval_history(approval: Approval) -> list[RunEvent]:
    """Every history row about this approval: created, opened, reassigned, escalated,
    reminded, decided."""
    return list(
        RunEvent.objects.filter(run_id=approval.run_id, data__approval_id=approval.id).order_by(
            "id"
        )
    )


# --- rollups ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rollup:
    """Decisions on one agent's (or flow's) drafts in a period."""

    key: str
    label: str
    decided: int
    approved: int
    edited: int
    rejected: int
    sent_back: int
    automatic: int
    avg_minutes: float | None
    avg_edit_distance: float | None
    reasons: list[tuple[str, int]]

    @property
    def human(self) -> int:
        return self.approved + self.edited + self.rejected + self.sent_back

    @property
    def approval_rate(self) -> float | None:
        return (self.approved + self.edited) / self.human if self.human else None

    @property
    def edit_rate(self) -> float | None:
        approved = self.approved + self.edited
        return self.edited / approved if approved else None


def approval_rollups(
    *,
    by: str,
    since: datetime | None = None,
    flow_id: int | None = None,
    node_id: str | None = None,
) -> list[Rollup]:
    """Per agent (``by="agent"``) or per flow (``by="flow"``): decisions, approval rate, edit
    rate, review minutes (``flows.approvals.review``), edit distance, top rejection reasons."""
    key = {"agent": "agent", "flow": "run__flow__slug"}[by]
    decided = Approval.objects.exclude(resolution__in=["", Approval.Resolution.CANCELLED])
    if since is not None:
        decided = decided.filter(decided_at__gte=since)
    if flow_id is not None:
        decided = decided.filter(run__flow_id=flow_id)
    if node_id is not None:
        decided = decided.filter(step__node_id=node_id)
    res = Approval.Resolution
    rows = (
        decided.values(key)
        .annotate(
            decided=Count("id"),
            approved=Count("id", filter=Q(resolution=res.APPROVED)),
            edited=Count("id", filter=Q(resolution=res.EDITED)),
            rejected=Count("id", filter=Q(resolution=res.REJECTED)),
            sent_back=Count("id", filter=Q(resolution=res.SENT_BACK)),
            # Review time as ``flows.approvals.review`` defines it, over decisions that have one.
            review_ms=Avg("review_ms", filter=Q(resolution__in=HUMAN, review_ms__isnull=False)),
            distance=Avg("edit_distance", filter=Q(resolution=res.EDITED)),
        )
        .order_by("-decided")
    )
    reasons: dict[str, list[tuple[str, int]]] = {}
    for row in (
        decided.filter(resolution__in=[res.REJECTED, res.SENT_BACK])
        .exclude(decision_reason="")
        .values(key, "decision_reason")
        .annotate(n=Count("id"))
        .order_by("-n")[:200]
    ):
        found = reasons.setdefault(row[key] or "", [])
        if len(found) < 3:
            found.append((row["decision_reason"], row["n"]))
    names = dict(Flow.objects.values_list("slug", "name")) if by == "flow" else {}
    result = []
    for row in rows[:50]:
        value = row[key] or ""
        human = row["approved"] + row["edited"] + row["rejected"] + row["sent_back"]
        minutes = row["review_ms"] / 60_000 if row["review_ms"] is not None else None
        result.append(
            Rollup(
                key=value,
                label=names.get(value, value) or "(no agent)",
                decided=row["decided"],
                approved=row["approved"],
                edited=row["edited"],
                rejected=row["rejected"],
                sent_back=row["sent_back"],
                automatic=row["decided"] - human,
                avg_minutes=minutes,
                avg_edit_distance=row["distance"],
                reasons=reasons.get(value, []),
            )
        )
    return result


def approval_nodes(flow: Flow) -> list[tuple[str, str, dict[str, Any]]]:
    """The approval nodes of the flow's current version: ``(node id, name, config)``."""
    version = flow.live_version or flow.versions.order_by("-number").first()
    if version is None:
        return []
    return [
        (node["id"], str(node.get("name") or node["id"]), dict(node.get("config") or {}))
        for node in version.document.get("nodes", [])
        if node.get("type") == "approval"
    ]


def approval_detail_dict(approval: Approval, *, user: Any) -> dict[str, Any]:
    """The API's view of one approval: the row, whether ``user`` may decide it, how many
    send-backs are left, the run's input, the steps before it and its history."""
    from flows.approvals.access import may_decide
    from flows.engine.nodes.approval import max_send_backs

    config: dict[str, Any] = {}
    if approval.step.node_type == "approval":
        run = approval.run
        config = graphs.for_version(run.version_id, run.version.document).config(
            approval.step.node_id
        )
    pending = approval.status == ApprovalStatus.PENDING
    return {
        **approval_dict(approval),
        "may_decide": pending and may_decide(user, approval),
        "send_backs_left": max(0, max_send_backs(config) - approval.round),
        "run_input": approval.run.input,
        "prior_steps": [
            {"node_id": s.node_id, "node_type": s.node_type, "scope": s.scope, "output": s.output}
            for s in run_so_far(approval)
        ],
        "history": [
            {"kind": event.kind, "at": event.at.isoformat(), "data": event.data}
            for event in approval_history(approval)
        ],
    }
