"""What happens when an approval's reminder or deadline comes: fired by the reconciler
(``flows.engine.reconciler.fire_due_approvals`` calls ``approvals_due_fire``, registered as
the engine's ``approvals_due`` hook), never by a Celery countdown.

At the deadline, by the approval's ``on_deadline`` (copied from its node):

- ``escalate``: the approval goes to ``escalate_to`` with a fresh deadline
  (``escalation_deadline_minutes``, else ``deadline_minutes``); at that one it is rejected;
- ``approve``: approved as drafted — only when the node says ``allow_auto_approve: true``,
  checked again here against the pinned flow version; otherwise it is rejected;
- ``reject`` (the default): rejected; the run goes on along its rejection edges, if any.

Reminders and escalations notify (``flows.approvals.notices``). Every change is a history row.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from flows.approvals.notices import notice_create, notices_resend
from flows.engine import transitions, waits
from flows.engine.scheduler import Advance
from flows.models import Approval, ApprovalNotice, Step
from flows.states import ApprovalStatus, RunStatus

LIVE_RUN_STATES = [RunStatus.RUNNING, RunStatus.WAITING_APPROVAL]
DEFAULT_ESCALATION_MINUTES = 60
BATCH = 500


def approvals_due_fire() -> int:
    """Approvals whose reminder or deadline came: remind, escalate, auto-reject or (where the
    node allows it) auto-approve them (``approval_deadline_fire``); then re-send reminder and
    escalation notices whose task was lost. Returns how many approvals were acted on."""
    now = timezone.now()
    due = list(
        Approval.objects.filter(status=ApprovalStatus.PENDING, run__status__in=LIVE_RUN_STATES)
        .filter(Q(deadline_at__lte=now) | Q(remind_at__lte=now, reminded_at__isnull=True))
        .order_by("deadline_at", "id")
        .values_list("id", flat=True)[:BATCH]
    )
    acted = sum(1 for approval_id in due if approval_deadline_fire(approval_id=approval_id))
    notices_resend()
    return acted


def approval_deadline_fire(*, approval_id: int) -> str | None:
    """Act on one approval whose reminder or deadline is due. Idempotent (a second call finds
    nothing due). Returns what happened: ``reminded``, ``escalated``, ``auto_approved``,
    ``auto_rejected``, or None. A paused run's deadlines wait until it resumes."""
    run_id = Approval.objects.filter(id=approval_id).values_list("run_id", flat=True).first()
    if run_id is None:
        return None
    with transaction.atomic():
        # The run lock orders this after (or before) a person deciding the same approval.
        advance = Advance.open(run_id)
        if advance.run.status not in LIVE_RUN_STATES:
            return None
        approval = Approval.objects.select_related("assignee_user").get(id=approval_id)
        if approval.status != ApprovalStatus.PENDING:
            return None
        now = timezone.now()
        if approval.deadline_at is not None and approval.deadline_at <= now:
            return _at_deadline(advance, approval, now)
        due = approval.remind_at is not None and approval.remind_at <= now
        if due and transitions.approval_update(
            approval,
            "approval.reminded",
            where_unset="reminded_at",
            data={"deadline_at": _iso(approval.deadline_at)},
            reminded_at=now,
        ):
            notice_create(approval, ApprovalNotice.Kind.REMINDER)
            return "reminded"
    return None


def _at_deadline(advance: Advance, approval: Approval, now: datetime) -> str:
    step = Step.objects.get(id=approval.step_id)
    config: dict[str, Any] = (
        advance.graph.config(step.node_id) if step.node_type == "approval" else {}
    )
    if (
        approval.on_deadline == Approval.OnDeadline.ESCALATE
        and approval.escalated_at is None
        and approval.escalate_to
    ):
        minutes = int(
            config.get("escalation_deadline_minutes")
            or config.get("deadline_minutes")
            or DEFAULT_ESCALATION_MINUTES
        )
        deadline = now + timedelta(minutes=minutes)
        transitions.approval_update(
            approval,
            "approval.escalated",
            data={
                "from": {
                    "user": approval.assignee_user.get_username()
                    if approval.assignee_user
                    else None,
                    "role": approval.assignee_role,
                },
                "to": {"role": approval.escalate_to},
                "deadline_at": deadline.isoformat(),
            },
            assignee_role=approval.escalate_to,
            assignee_user=None,
            escalated_at=now,
            deadline_at=deadline,
            remind_at=None,
        )
        notice_create(approval, ApprovalNotice.Kind.ESCALATION)
        return "escalated"
    approve = (
        approval.on_deadline == Approval.OnDeadline.APPROVE
        and config.get("allow_auto_approve") is True
    )
    after = " after escalation" if approval.escalated_at else ""
    if approve:
        reason = "the deadline passed; this approval node approves at its deadline"
        resolution, status, decision = (
            Approval.Resolution.AUTO_APPROVED,
            ApprovalStatus.APPROVED,
            "approved",
        )
    else:
        reason = f"the deadline passed{after} with no decision"
        resolution, status, decision = (
            Approval.Resolution.AUTO_REJECTED,
            ApprovalStatus.REJECTED,
            "rejected",
        )
    transitions.approval_move(
        approval,
        status,
        decided_at=now,
        decision_output=approval.draft,
        decision_reason=reason,
        resolution=resolution,
        data={"resolution": resolution, "reason": reason},
    )
    waits.resume(
        advance,
        step,
        {
            "decision": decision,
            "output": approval.draft,
            "edited": False,
            "reason": reason,
            "decided_by": None,
        },
    )
    advance.drain()
    return str(resolution)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None
