"""The one writer of run, step and approval status.

Every change is a compare-and-set (``filter(id=…, status=expected).update(…)``; zero rows means
the caller lost a race and must not act), is checked against ``flows.states``, appends a
``RunEvent`` in the same transaction, and publishes a bus event after commit.

How a run ends (decided by ``flows.engine.scheduler.Advance``, written here): ``succeeded``
when nothing is left to run (or an ``end`` node finished it); ``failed`` when a step fails for
good and its node has no failure path (``on_error: continue`` or an ``"on": "error"`` edge —
``Advance.fail_step``), with the step's class in ``Run.error_class``; ``failed`` with class
``rejected`` and the reason as ``Run.error`` when an approval is rejected (by a person or a
deadline) and none of the approval node's outgoing edges is taken (``flows.engine.nodes.
approval``). A step that failed and took an error edge stays ``failed``; one that continued
on error is ``succeeded`` with ``{"error": {"class", "message"}}`` as output and
``{"on_error": "continued"}`` in its input. Neither fails the run.

The audit log (``agents.audit``) gets a row for every transition except the two that only
schedule work: a step created ``queued`` and a worker's claim of it (queued → running). Both
stay in the run's history (``RunEvent``); every outcome that follows is audited.
"""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID

from django.db.models import Q
from django.db.models.constants import OnConflict
from django.utils import timezone

from agents.audit import audit_append
from controlroom import batch, bus
from flows.models import Approval, Run, Step
from flows.roi import facts as roi_facts
from flows.states import (
    RUN_TERMINAL,
    STEP_TERMINAL,
    ApprovalStatus,
    RunStatus,
    StepStatus,
    check_approval_transition,
    check_run_transition,
    check_step_transition,
)

_FACTS: dict[str, tuple[str, str]] = {}


def _run_facts(run_id: UUID | str, run: Run | None = None) -> tuple[str, str]:
    """(flow slug, subject) of a run, for its audit rows: both are fixed when the run starts,
    so each process looks a run up at most once — not at all when the caller has the run
    with its version (the slug is the version document's)."""
    key = str(run_id)
    facts = _FACTS.get(key)
    if facts is not None:
        return facts
    version = run._state.fields_cache.get("version") if run is not None else None
    if run is not None and version is not None and version.document.get("slug"):
        facts = (str(version.document["slug"]), run.subject)
    else:
        row = Run.objects.filter(id=run_id).values_list("flow__slug", "subject").first()
        facts = (row[0], row[1]) if row else ("", "")
    if len(_FACTS) > 8192:
        _FACTS.clear()
    _FACTS[key] = facts
    return facts


def _audit(
    action: str,
    *,
    run_id: UUID | str,
    step: Step | None = None,
    step_id: int | None = None,
    src: str | None = None,
    to: str = "",
    data: dict[str, Any] | None = None,
    kind: str = "transition",
    actor: Any = None,
    reason: str = "",
    run: Run | None = None,
) -> None:
    """The audit row of one transition, in the transaction that makes it (one INSERT)."""
    if run is None and step is not None:
        run = step._state.fields_cache.get("run")
    flow_slug, subject = _run_facts(run_id, run)
    facts: dict[str, Any] = {"from": src or None, "to": to}
    if step is not None:
        facts["node"] = step.node_id
        if step.scope:
            facts["scope"] = step.scope
    audit_append(
        kind=kind,
        action=action,
        actor=actor,
        reason=reason,
        subject=subject,
        flow_slug=flow_slug,
        run_id=run_id,
        step_id=step.id if step is not None else step_id,
        data={**facts, **(data or {})},
    )


_HISTORY_SQL = (
    "INSERT INTO flows_runevent (run_id, step_id, kind, from_status, to_status, data, at) "
    "VALUES (%s, %s, %s, %s, %s, %s::jsonb, %s)"
)


def _history(
    *,
    run_id: UUID | str,
    step_id: int | None = None,
    kind: str,
    src: str = "",
    to: str = "",
    data: dict[str, Any] | None = None,
) -> None:
    """Append one ``RunEvent`` row; inside ``controlroom.batch.batched()`` it travels with the
    transaction's other history rows in one round trip."""
    batch.execute(
        _HISTORY_SQL,
        [run_id, step_id, kind, src, to, json.dumps(data or {}, default=str), timezone.now()],
    )


def _step_event(step: Step) -> bus.Event:
    return bus.Event(
        type="step.changed",
        groups=(f"run.{step.run_id}",),
        data={"run_id": str(step.run_id), "step_id": step.id},
    )


def _run_event(run: Run) -> bus.Event:
    return bus.Event(
        type="run.changed",
        groups=(f"run.{run.id}", f"flow.{run.flow_id}", "runs", "home"),
        data={"run_id": str(run.id), "flow_id": run.flow_id, "status": run.status},
    )


def step_create(
    *, run: Run, status: StepStatus, if_absent: bool = False, **fields: Any
) -> Step | None:
    """Insert a step born in ``status`` (queued, running, skipped, or a reused success).

    With ``if_absent``, a step already there for the same (run, node, scope) — the
    ``step_unique_activation`` constraint — makes this a no-op returning None, in the same
    statement (``INSERT … ON CONFLICT DO NOTHING``)."""
    check_step_transition(None, status)
    now = timezone.now()
    if status in STEP_TERMINAL:
        fields.setdefault("finished_at", now)
    if status == StepStatus.RUNNING:
        fields.setdefault("started_at", now)
    step = Step(run=run, status=status, **fields)
    if if_absent:
        if not _insert_if_absent(step):
            return None
    else:
        step.save(force_insert=True)
    _history(
        run_id=run.id, step_id=step.id, kind="step.created", to=status, data={"scope": step.scope}
    )
    if status in STEP_TERMINAL:
        roi_facts.fact_step_finished(step)
    if status != StepStatus.QUEUED:
        # A step queued for a worker is scheduling, kept in the run's history only (as is a
        # worker's claim of it, ``flows.engine.claims``); the audit log records what the step
        # then does — and every step born running, skipped or reused.
        _audit("step.created", run_id=run.id, step=step, to=status)
    bus.publish(_step_event(step))
    return step


def _insert_if_absent(step: Step) -> bool:
    """INSERT ``step`` unless its activation exists; True (and ``step.id`` set) if inserted."""
    fields = [f for f in Step._meta.concrete_fields if not f.primary_key]
    rows = Step.objects._insert(  # type: ignore[attr-defined]
        [step],
        fields=fields,
        returning_fields=[Step._meta.pk],
        on_conflict=OnConflict.IGNORE,
    )
    if not rows:
        return False
    step.id = rows[0][0]
    step._state.adding = False
    return True


def step_claimed(step: Step) -> None:
    """Tell the pages showing the run that a worker claimed ``step`` (the claim statement,
    ``flows.engine.claims``, wrote its history row itself)."""
    bus.publish(_step_event(step))


def step_move(
    step: Step,
    to: StepStatus,
    *,
    expected: StepStatus | None = None,
    where: Q | None = None,
    data: dict[str, Any] | None = None,
    **fields: Any,
) -> bool:
    """Move ``step`` from ``expected`` (default: its current status) to ``to``.

    ``where`` adds conditions to the compare-and-set (fencing on ``attempt``, a due time...).
    It must name only the step's own columns (or ``run_id__in=<subquery>``): a lookup across a
    relation makes Django emit ``UPDATE … WHERE id IN (SELECT … JOIN …)``, and PostgreSQL does
    not re-check that subquery against a concurrent writer, so two racing moves would both win.
    Returns False, changing nothing, when the row no longer matches. On success the in-memory
    ``step`` is updated too.
    """
    src = StepStatus(expected or step.status)
    check_step_transition(src, to)
    now = timezone.now()
    if to in STEP_TERMINAL:
        fields.setdefault("finished_at", now)
    query = Step.objects.filter(id=step.id, status=src)
    if where is not None:
        query = query.filter(where)
    if not query.update(status=to, **fields):
        return False
    step.status = to
    for name, value in fields.items():
        if not hasattr(value, "resolve_expression"):
            setattr(step, name, value)
    _history(run_id=step.run_id, step_id=step.id, kind="step.moved", src=src, to=to, data=data)
    if to in STEP_TERMINAL:
        roi_facts.fact_step_finished(step)
    _audit("step.moved", run_id=step.run_id, step=step, src=src, to=to, data=data)
    bus.publish(_step_event(step))
    return True


def run_create(**fields: Any) -> Run:
    check_run_transition(None, RunStatus.QUEUED)
    run = Run(status=RunStatus.QUEUED, **fields)
    if not run.root_run_id:
        run.root_run_id = run.id
    run.save(force_insert=True)
    _history(run_id=run.id, kind="run.created", to=RunStatus.QUEUED)
    _audit(
        "run.created",
        run=run,
        run_id=run.id,
        to=RunStatus.QUEUED,
        actor=run.created_by if run.created_by_id else None,
    )
    bus.publish(_run_event(run))
    return run


def run_move(run: Run, to: RunStatus, *, data: dict[str, Any] | None = None, **fields: Any) -> bool:
    """Move a run (locked by the caller) to ``to``; a no-op returning False if already there."""
    src = RunStatus(run.status)
    if src == to:
        return False
    check_run_transition(src, to)
    now = timezone.now()
    if to in RUN_TERMINAL:
        fields.setdefault("finished_at", now)
    if to == RunStatus.RUNNING and run.started_at is None:
        fields.setdefault("started_at", now)
    if not Run.objects.filter(id=run.id, status=src).update(status=to, **fields):
        return False
    run.status = to
    for name, value in fields.items():
        setattr(run, name, value)
    _history(run_id=run.id, kind="run.moved", src=src, to=to, data=data)
    if to in RUN_TERMINAL:
        roi_facts.fact_run_finished(run)
    _audit("run.moved", run=run, run_id=run.id, src=src, to=to, data=data)
    bus.publish(_run_event(run))
    return True


def run_note(run: Run, kind: str, data: dict[str, Any]) -> None:
    """Append a non-transition fact to the run's history (a retry started, input dropped...)
    and tell the pages showing the run."""
    _history(run_id=run.id, kind=kind, data=data)
    bus.publish(_run_event(run))


def _approval_event(approval: Approval) -> bus.Event:
    return bus.Event(
        type="approval.changed",
        groups=("inbox", f"run.{approval.run_id}", "home"),
        data={
            "approval_id": approval.id,
            "run_id": str(approval.run_id),
            "status": approval.status,
        },
    )


def approval_create(**fields: Any) -> Approval:
    check_approval_transition(None, ApprovalStatus.PENDING)
    approval = Approval.objects.create(status=ApprovalStatus.PENDING, **fields)
    _history(
        run_id=approval.run_id,
        step_id=approval.step_id,
        kind="approval.created",
        to=ApprovalStatus.PENDING,
        data={"approval_id": approval.id},
    )
    _audit(
        "approval.created",
        run_id=approval.run_id,
        to=ApprovalStatus.PENDING,
        step_id=approval.step_id,
        data={"approval_id": approval.id, "source": approval.source},
        reason=approval.reason,
    )
    bus.publish(_approval_event(approval))
    return approval


def approval_move(
    approval: Approval, to: ApprovalStatus, *, data: dict[str, Any] | None = None, **fields: Any
) -> bool:
    """Compare-and-set an approval out of ``pending``. False: someone else decided first.
    ``data`` joins the history row (what was decided, what changed)."""
    src = ApprovalStatus(approval.status)
    check_approval_transition(src, to)
    if not Approval.objects.filter(id=approval.id, status=src).update(status=to, **fields):
        return False
    approval.status = to
    for name, value in fields.items():
        setattr(approval, name, value)
    _history(
        run_id=approval.run_id,
        step_id=approval.step_id,
        kind="approval.decided",
        src=src,
        to=to,
        data={
            "approval_id": approval.id,
            "by": getattr(approval.decided_by, "username", None),
            **(data or {}),
        },
    )
    roi_facts.fact_approval_decided(approval)
    # A person's decision is a "decision"; a deadline or a cancelled run deciding is not.
    decider = fields.get("decided_by")
    _audit(
        "approval.decided",
        run_id=approval.run_id,
        src=src,
        to=to,
        step_id=approval.step_id,
        data={"approval_id": approval.id, **(data or {})},
        kind="decision" if decider is not None else "transition",
        actor=decider or "system",
        reason=str(fields.get("decision_reason") or ""),
    )
    bus.publish(_approval_event(approval))
    return True


def approval_update(
    approval: Approval,
    kind: str,
    *,
    data: dict[str, Any] | None = None,
    publish: bool = True,
    where_unset: str | None = None,
    **fields: Any,
) -> bool:
    """Change a pending approval without deciding it (reassigned, escalated, reminded, first
    opened): compare-and-set on ``pending`` (and on the field ``where_unset`` still being
    null), a history row of ``kind``, and (``publish``) a bus event so inboxes update. False
    when the row no longer matches."""
    query = Approval.objects.filter(id=approval.id, status=ApprovalStatus.PENDING)
    if where_unset is not None:
        query = query.filter(**{f"{where_unset}__isnull": True})
    if not query.update(**fields):
        return False
    for name, value in fields.items():
        setattr(approval, name, value)
    _history(
        run_id=approval.run_id,
        step_id=approval.step_id,
        kind=kind,
        data={"approval_id": approval.id, **(data or {})},
    )
    if kind == "approval.escalated":
        roi_facts.fact_approval_escalated(approval)
    if kind != "approval.opened":  # opening is reading, not a decision or a state change
        by = (data or {}).get("by")
        _audit(
            kind,
            run_id=approval.run_id,
            step_id=approval.step_id,
            data={"approval_id": approval.id, **(data or {})},
            kind="decision" if by else "transition",
            actor=by or "system",
        )
    if publish:
        bus.publish(_approval_event(approval))
    return True
