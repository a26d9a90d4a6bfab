"""The approvals API's request and response bodies (``flows.approvals.api``)."""

from __future__ import annotations

from typing import Any, Literal

from ninja import Schema
from pydantic import Field


class ApprovalOut(Schema):
    id: int
    run_id: str
    flow: str
    node_id: str
    source: str
    status: str
    title: str
    instructions: str
    draft: Any
    reason: str
    assignee_role: str
    shown_hash: str
    deadline_at: str | None
    decision_output: Any
    decision_reason: str
    decided_by: str | None
    decided_at: str | None
    created_at: str
    # The inbox (issue 4): who it is for, deadlines, feedback.
    agent: str = ""
    round: int = 0
    assignee_user: str | None = None
    on_deadline: str = ""
    escalated_at: str | None = None
    first_opened_at: str | None = None
    resolution: str = ""
    edit_distance: int | None = None
    sampled: bool = False
    review_ms: int | None = None
    review_source: str = ""


class ApprovalListOut(Schema):
    items: list[ApprovalOut]
    next_cursor: str | None


class PriorStepOut(Schema):
    node_id: str
    node_type: str
    scope: str
    output: Any


class ApprovalEventOut(Schema):
    kind: str
    at: str
    data: dict[str, Any]


class ApprovalDetailOut(ApprovalOut):
    """One approval with what an approver needs to decide it."""

    may_decide: bool
    send_backs_left: int
    run_input: Any
    prior_steps: list[PriorStepOut]
    history: list[ApprovalEventOut]


class AssigneeIn(Schema):
    """Exactly one: a person (by username) or a role."""

    user: str | None = Field(default=None, max_length=150)
    role: str | None = Field(default=None, max_length=20)


class DecisionIn(Schema):
    """A decision: ``decision`` (+ ``output``, ``reason``) and, always, ``shown_hash`` — the
    approval's ``shown_hash`` as read with it, binding the decision to exactly what was shown
    (a missing one is 422, a stale one 409; reassigning sends it too); ``send_back`` with
    ``reject`` sends the draft back to its drafting step with ``reason`` as the notes;
    ``reassign`` with ``assignee`` passes it on."""

    decision: Literal["approve", "reject", "reassign"]
    output: Any = None
    reason: str = Field(default="", max_length=5000)
    shown_hash: str = Field(
        min_length=1,
        max_length=64,
        description="the approval's shown_hash as read: the decision applies to exactly that",
    )
    send_back: bool = False
    assignee: AssigneeIn | None = None
    review_seconds: float | None = Field(
        default=None,
        ge=0,
        le=86_400,
        description="how long the caller reviewed the item, in seconds, as measured by the "
        "client: recorded as review time reported by the API client; without it the decision's "
        "review time is not measured (none, not zero)",
    )
