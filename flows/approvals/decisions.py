"""Human decisions on approvals: decide (approve, edit, reject, send back), reassign, open.

Every function that changes an approval locks its run first (``Advance.open``): the run lock
serialises two people deciding at once — the second finds the first one's decision and is told
who made it — and a decision resumes the run in the same transaction. Each change appends a
``RunEvent`` (who, when, what changed) and publishes a bus event after commit, through
``flows.engine.transitions``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from flows.approvals import autonomy, edits, review
from flows.approvals.access import DECIDING_ROLES, may_decide
from flows.engine import transitions, waits
from flows.engine.nodes.approval import max_send_backs
from flows.engine.scheduler import Advance
from flows.models import Approval, Step
from flows.states import ApprovalStatus


class ApprovalError(Exception):
    def __init__(self, message: str, *, code: str = "invalid", status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status


@dataclass(frozen=True)
class Decision:
    decision: str  # "approve" | "reject"
    output: Any = None  # the edited draft (approve only); None approves it as shown
    reason: str = ""  # why; for a send-back, the notes the drafting step sees
    shown_hash: str = ""  # the hash of what the approver saw: required, and must match
    send_back: bool = False  # reject and send the draft back to its drafting step
    # Review time (``flows.approvals.review``): "inbox" decisions add the page's last unsent
    # ``active_ms``; "api" decisions count ``review_seconds`` as reported, or none without it.
    channel: str = review.INBOX
    active_ms: int | None = None
    review_seconds: float | None = None


def _locked(approval_id: int) -> tuple[Advance, Approval]:
    """Lock the approval's run (inside ``transaction.atomic``) and read the approval."""
    run_id = Approval.objects.filter(id=approval_id).values_list("run_id", flat=True).first()
    if run_id is None:
        raise ApprovalError("no such approval", code="not_found", status=404)
    advance = Advance.open(run_id)
    approval = Approval.objects.select_related("decided_by", "step").get(id=approval_id)
    return advance, approval


def _check_pending(approval: Approval, user: Any) -> None:
    if not may_decide(user, approval):
        raise ApprovalError("you may not decide this approval", code="forbidden", status=403)
    if approval.status != ApprovalStatus.PENDING:
        who = approval.decided_by.get_username() if approval.decided_by else "the system"
        raise ApprovalError(f"already {approval.status} by {who}", code="conflict", status=409)
    if approval.deadline_at and approval.deadline_at < timezone.now():
        raise ApprovalError("the deadline for this approval has passed", code="expired", status=409)


def approval_decide(*, approval_id: int, user: Any, decision: Decision) -> Approval:
    """Record a decision and resume the run, atomically.

    Every decision (approve, edit-and-approve, reject, send back) is bound to what the
    approver saw: ``shown_hash`` is required (422 ``missing_hash`` without it) and must equal
    the pending approval's hash (409 ``stale`` when the draft changed since it was shown).

    Refused when the user may not decide, when someone decided first (the winner is named),
    when the deadline passed, or when an edit changes the kind of thing approved. A send-back
    needs notes and a node that names ``send_back_to``, at most ``max_send_backs`` times.

    Stores the decision's review time (``review.approval_review_time``: measured in the inbox,
    reported by the API client, or none) on the approval, where ROI reads it.
    """
    if decision.decision not in {"approve", "reject"}:
        raise ApprovalError("decision must be 'approve' or 'reject'")
    if decision.send_back and decision.decision != "reject":
        raise ApprovalError("only a rejection can send the draft back")
    if decision.send_back and not decision.reason.strip():
        raise ApprovalError("say what to change: sending a draft back needs notes")
    measured = _edit_measured(approval_id, decision)
    with transaction.atomic():
        # The run lock serialises deciders: the second one sees the first one's decision.
        advance, approval = _locked(approval_id)
        _check_pending(approval, user)
        if not decision.shown_hash:
            raise ApprovalError(
                "shown_hash is required: send the hash of the draft you were shown "
                "(the approval's shown_hash), so that you decide on exactly that",
                code="missing_hash",
                status=422,
            )
        if decision.shown_hash != approval.shown_hash:
            raise ApprovalError(
                "the draft changed after it was shown; review the current version",
                code="stale",
                status=409,
            )
        step = Step.objects.get(id=approval.step_id)
        outcome = _outcome(advance, approval, step, decision, user, measured)
        try:
            spent = review.approval_review_time(
                approval=approval,
                user=user,
                channel=decision.channel,
                active_ms=decision.active_ms,
                reported_seconds=decision.review_seconds,
            )
        except review.ReviewError as exc:
            raise ApprovalError(exc.message, code=exc.code, status=exc.status) from None
        moved = transitions.approval_move(
            approval,
            outcome.status,
            decided_by=user,
            decided_at=timezone.now(),
            decision_output=outcome.final,
            decision_reason=decision.reason,
            resolution=outcome.resolution,
            edit_distance=outcome.distance,
            review_ms=spent.ms,
            review_source=spent.source,
            data=outcome.audit | {"review_ms": spent.ms, "review_source": spent.source},
        )
        if not moved:  # cannot happen under the run lock; refuse rather than resume twice
            raise ApprovalError("someone decided first", code="conflict", status=409)
        waits.resume(advance, step, outcome.payload)
        advance.drain()
        if step.node_type == "approval":
            autonomy.autonomy_recheck(
                flow_id=advance.run.flow_id,
                node_id=step.node_id,
                config=advance.graph.config(step.node_id),
            )
    return approval


@dataclass
class _Outcome:
    status: ApprovalStatus
    resolution: str
    final: Any
    payload: dict[str, Any]
    distance: int | None = None
    audit: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class _EditMeasure:
    """An edit's distance and diff, and the hash of the draft they were measured against."""

    shown_hash: str
    distance: int
    diff: str


def _edit_measured(approval_id: int, decision: Decision) -> _EditMeasure | None:
    """Measure an edit before the run lock is taken: the distance and the diff cost time on
    long drafts, and nobody else's decision should wait for them. Bound to the draft by its
    ``shown_hash`` (a hash of title and draft): under the lock they are used only if the
    approval still shows that hash, else measured again there."""
    if decision.decision != "approve" or decision.output is None:
        return None
    row = Approval.objects.filter(id=approval_id).values("draft", "shown_hash").first()
    if row is None or row["draft"] == decision.output:
        return None
    return _EditMeasure(
        shown_hash=row["shown_hash"],
        distance=edits.edit_distance(row["draft"], decision.output),
        diff=edits.unified_diff(row["draft"], decision.output),
    )


def _outcome(
    advance: Advance,
    approval: Approval,
    step: Step,
    decision: Decision,
    user: Any,
    measured: _EditMeasure | None = None,
) -> _Outcome:
    who = user.get_username()
    audit: dict[str, Any] = {"decision": decision.decision, "reason": decision.reason}
    if decision.decision == "approve":
        edited = decision.output is not None and decision.output != approval.draft
        final = decision.output if edited else approval.draft
        if edited:
            try:
                edits.check_edit(approval.draft, final)
            except edits.EditError as exc:
                raise ApprovalError(str(exc), code="invalid_edit", status=422) from None
        if measured is None or measured.shown_hash != approval.shown_hash:
            measured = _edit_measured(approval.id, decision) if edited else None
        distance = measured.distance if edited and measured else 0
        resolution = Approval.Resolution.EDITED if edited else Approval.Resolution.APPROVED
        audit |= {"resolution": resolution, "edited": edited, "edit_distance": distance}
        if edited and measured:
            audit["diff"] = measured.diff
        payload = {
            "decision": "approved",
            "output": final,
            "edited": edited,
            "reason": decision.reason,
            "decided_by": who,
        }
        return _Outcome(ApprovalStatus.APPROVED, resolution, final, payload, distance, audit)
    if decision.send_back:
        limit = (
            max_send_backs(advance.graph.config(step.node_id))
            if step.node_type == "approval"
            else 0
        )
        if limit == 0:
            raise ApprovalError("this approval cannot send drafts back (no send_back_to)")
        if approval.round >= limit:
            raise ApprovalError(
                f"this draft was sent back {limit} times already: approve, edit or reject it"
            )
        resolution = Approval.Resolution.SENT_BACK
        audit |= {
            "resolution": resolution,
            "send_back_to": advance.graph.round_head.get(step.node_id),
        }
        payload = {
            "decision": "sent_back",
            "reason": decision.reason,
            "decided_by": who,
            "draft": approval.draft,
        }
        return _Outcome(ApprovalStatus.REJECTED, resolution, None, payload, None, audit)
    resolution = Approval.Resolution.REJECTED
    audit["resolution"] = resolution
    payload = {
        "decision": "rejected",
        "output": approval.draft,
        "edited": False,
        "reason": decision.reason,
        "decided_by": who,
    }
    return _Outcome(ApprovalStatus.REJECTED, resolution, approval.draft, payload, None, audit)


def approval_reassign(
    *,
    approval_id: int,
    user: Any,
    to_user: str | None = None,
    to_role: str | None = None,
    note: str = "",
) -> Approval:
    """Give a pending approval to one person (who can decide approvals) or to a role.

    Only someone who may decide it now may pass it on. Audited as ``approval.reassigned``.
    """
    if (to_user is None) == (to_role is None):
        raise ApprovalError("reassign to one person or one role")
    target = None
    if to_user is not None:
        target = get_user_model().objects.filter(username=to_user, is_active=True).first()
        if target is None:
            raise ApprovalError(f"no active user {to_user!r}", code="invalid_assignee")
    elif to_role not in DECIDING_ROLES:
        raise ApprovalError(
            f"approvals go to a role that can decide them: {', '.join(DECIDING_ROLES)}",
            code="invalid_assignee",
        )
    with transaction.atomic():
        _, approval = _locked(approval_id)
        _check_pending(approval, user)
        before = {
            "user": approval.assignee_user.get_username() if approval.assignee_user else None,
            "role": approval.assignee_role,
        }
        fields: dict[str, Any] = {"assignee_user": target}
        if to_role is not None:
            fields["assignee_role"] = to_role
        if target is not None:
            probe = Approval(assignee_user=target, assignee_role=approval.assignee_role)
            if not may_decide(target, probe):
                raise ApprovalError(
                    f"{target.get_username()} cannot decide approvals", code="invalid_assignee"
                )
        transitions.approval_update(
            approval,
            "approval.reassigned",
            data={
                "by": user.get_username(),
                "from": before,
                "to": {"user": to_user, "role": fields.get("assignee_role", before["role"])},
                "note": note[:2000],
            },
            **fields,
        )
    return approval


def approval_open(*, approval_id: int, user: Any) -> bool:
    """An approver who may decide it opened the approval's detail: start this person's review
    window (``review.approval_review_start``; opening is not reviewing, only heartbeats count)
    and, the first time anyone does, note when and who (history, ``first_opened_at``). True
    when this call was the first opening."""
    approval = Approval.objects.filter(id=approval_id).first()
    if approval is None or approval.status != ApprovalStatus.PENDING:
        return False
    if not may_decide(user, approval):
        return False
    review.approval_review_start(approval_id=approval.id, user=user)
    if approval.first_opened_at is not None:
        return False
    with transaction.atomic():
        return transitions.approval_update(
            approval,
            "approval.opened",
            where_unset="first_opened_at",
            data={"by": user.get_username()},
            publish=False,
            first_opened_at=timezone.now(),
            first_opened_by=user,
        )


@dataclass
class BulkResult:
    approved: list[int] = field(default_factory=list)
    refused: list[tuple[int, str]] = field(default_factory=list)


def approval_bulk_approve(*, items: list[tuple[int, str | None]], user: Any) -> BulkResult:
    """Approve several approvals as shown, each bound to the hash it was shown with. Each is
    decided on its own (a refusal — no hash, stale, decided, expired — leaves the others
    approved)."""
    result = BulkResult()
    for approval_id, shown in items:
        try:
            approval_decide(
                approval_id=approval_id,
                user=user,
                decision=Decision("approve", shown_hash=shown or ""),
            )
        except ApprovalError as exc:
            result.refused.append((approval_id, exc.message))
        else:
            result.approved.append(approval_id)
    return result
