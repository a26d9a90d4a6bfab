"""Deadlines and reminders, fired by the reconciler pass (``fire_due_approvals``), one test per
``on_deadline`` mode: move ``deadline_at`` into the past, run the pass, see what happened."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from flows.approvals.decisions import ApprovalError, Decision, approval_decide
from flows.engine import reconciler
from flows.models import Approval, ApprovalNotice, Run, RunEvent
from tests.support.approvals import parked, review_flow, shown
from tests.support.flows import drive

pytestmark = pytest.mark.django_db


def overdue(approval: Approval) -> None:
    Approval.objects.filter(id=approval.id).update(
        deadline_at=timezone.now() - timedelta(seconds=1)
    )


def test_at_the_deadline_an_approval_is_rejected_by_default(cast: dict[str, Any]) -> None:
    run, approval = parked(review_flow(deadline_minutes=30))
    assert approval.on_deadline == "reject"
    assert reconciler.fire_due_approvals() == 0  # not due yet
    overdue(approval)
    assert reconciler.fire_due_approvals() == 1
    approval.refresh_from_db()
    assert approval.status == "rejected"
    assert approval.resolution == "auto_rejected"
    assert approval.decided_by is None
    run.refresh_from_db()
    assert run.status == "succeeded"
    assert run.output == "dropped: the deadline passed with no decision"
    assert reconciler.fire_due_approvals() == 0  # nothing left to do: idempotent


def test_a_decision_after_the_deadline_is_refused(cast: dict[str, Any]) -> None:
    _, approval = parked(review_flow(deadline_minutes=30))
    overdue(approval)
    with pytest.raises(ApprovalError, match="deadline for this approval has passed") as refused:
        approval_decide(
            approval_id=approval.id,
            user=cast["approver"],
            decision=Decision("approve", shown_hash=shown(approval.id)),
        )
    assert refused.value.code == "expired"


def test_auto_approve_at_the_deadline_where_the_node_allows_it(cast: dict[str, Any]) -> None:
    run, approval = parked(
        review_flow(deadline_minutes=30, on_deadline="approve", allow_auto_approve=True)
    )
    overdue(approval)
    reconciler.fire_due_approvals()
    approval.refresh_from_db()
    assert (approval.status, approval.resolution) == ("approved", "auto_approved")
    run.refresh_from_db()
    assert run.status == "succeeded"
    assert run.output == "A post about pricing."
    event = RunEvent.objects.get(kind="approval.decided", data__approval_id=approval.id)
    assert event.data["resolution"] == "auto_approved"


def test_auto_approve_is_refused_when_the_pinned_node_does_not_allow_it(
    cast: dict[str, Any],
) -> None:
    """A row that says "approve" is not enough: the flow version must say so too."""
    _, approval = parked(review_flow(deadline_minutes=30))
    Approval.objects.filter(id=approval.id).update(on_deadline="approve")
    overdue(approval)
    reconciler.fire_due_approvals()
    approval.refresh_from_db()
    assert approval.resolution == "auto_rejected"


def test_escalation_hands_the_approval_to_another_role_with_a_new_deadline(
    cast: dict[str, Any],
) -> None:
    run, approval = parked(
        review_flow(
            deadline_minutes=30,
            on_deadline="escalate",
            escalate_to="admin",
            escalation_deadline_minutes=10,
        )
    )
    overdue(approval)
    before = timezone.now()
    assert reconciler.fire_due_approvals() == 1
    approval.refresh_from_db()
    assert approval.status == "pending"
    assert approval.assignee_role == "admin" and approval.escalated_at is not None
    assert approval.deadline_at is not None
    assert (
        before + timedelta(minutes=9)
        < approval.deadline_at
        <= timezone.now() + timedelta(minutes=10)
    )
    # The approver it was for may no longer decide it; an admin may.
    with pytest.raises(ApprovalError) as refused:
        approval_decide(
            approval_id=approval.id,
            user=cast["approver"],
            decision=Decision("approve", shown_hash=shown(approval.id)),
        )
    assert refused.value.status == 403
    event = RunEvent.objects.get(kind="approval.escalated", data__approval_id=approval.id)
    assert event.data["from"]["role"] == "approver" and event.data["to"] == {"role": "admin"}
    assert ApprovalNotice.objects.get(approval=approval).kind == "escalation"

    # Still undecided at the escalation's deadline: rejected.
    overdue(approval)
    reconciler.fire_due_approvals()
    approval.refresh_from_db()
    assert approval.resolution == "auto_rejected"
    assert approval.decision_reason == "the deadline passed after escalation with no decision"
    assert Run.objects.get(id=run.id).status == "succeeded"


def test_a_reminder_is_sent_once_before_the_deadline(cast: dict[str, Any]) -> None:
    _, approval = parked(review_flow(deadline_minutes=60, remind_before_minutes=15))
    assert approval.remind_at == approval.deadline_at - timedelta(minutes=15)
    assert reconciler.fire_due_approvals() == 0
    Approval.objects.filter(id=approval.id).update(remind_at=timezone.now())
    assert reconciler.fire_due_approvals() == 1
    assert reconciler.fire_due_approvals() == 0
    approval.refresh_from_db()
    assert approval.status == "pending" and approval.reminded_at is not None
    assert list(ApprovalNotice.objects.values_list("kind", flat=True)) == ["reminder"]


def test_a_paused_run_keeps_its_approval_past_the_deadline(cast: dict[str, Any]) -> None:
    run, approval = parked(review_flow(deadline_minutes=30))
    Run.objects.filter(id=run.id).update(status="paused")
    overdue(approval)
    assert reconciler.fire_due_approvals() == 0
    approval.refresh_from_db()
    assert approval.status == "pending"


def test_the_engine_tick_runs_the_approvals_pass(cast: dict[str, Any]) -> None:
    run, approval = parked(review_flow(deadline_minutes=30))
    overdue(approval)
    reconciler.engine_tick()
    assert drive(run).status == "succeeded"
    approval.refresh_from_db()
    assert approval.resolution == "auto_rejected"
