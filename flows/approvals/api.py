"""The approvals router: list approvals (``?mine=true``: what the caller may decide), read one
with what an approver needs, and decide it. Thin adapters over ``flows.approvals.decisions``
and ``flows.approvals.selectors``; the HTML inbox (``flows.approvals.views``) calls the same
functions."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Router
from ninja.errors import HttpError

from controlroom.api import ERRORS, error_response, requires
from controlroom.pagination import BadCursor, page
from controlroom.roles import Capability
from flows.approvals import decisions, selectors
from flows.approvals.access import decidable_by
from flows.approvals.schemas import ApprovalDetailOut, ApprovalListOut, ApprovalOut, DecisionIn
from flows.states import ApprovalStatus

router = Router(tags=["approvals"], auth=requires(Capability.VIEW))


@router.get(
    "/approvals",
    response={200: ApprovalListOut, **ERRORS},
    summary="Approvals, newest first; ?mine=true: pending ones the caller may decide",
)
def approval_list(
    request: HttpRequest,
    status: str | None = None,
    flow: str | None = None,
    agent: str | None = None,
    mine: bool = False,
    cursor: str | None = None,
    limit: int = 50,
) -> dict[str, Any]:
    if status and status not in {s.value for s in ApprovalStatus}:
        raise HttpError(400, f"unknown status {status!r}")
    if "\x00" in f"{flow or ''}{agent or ''}":
        raise HttpError(400, "flow and agent cannot contain NUL characters")
    found = selectors.approval_list(status=status)
    if flow:
        found = found.filter(run__flow__slug=flow)
    if agent:
        found = found.filter(agent=agent)
    if mine:
        eligible = decidable_by(request.user)
        found = (
            found.filter(eligible, status=ApprovalStatus.PENDING)
            if eligible is not None
            else found.none()
        )
    try:
        rows, next_cursor = page(found, cursor=cursor, limit=max(1, min(limit, 200)))
    except BadCursor as exc:
        raise HttpError(400, str(exc)) from exc
    return {"items": [selectors.approval_dict(a) for a in rows], "next_cursor": next_cursor}


def _approval_or_404(approval_id: int) -> Any:
    approval = selectors.approval_get(approval_id=approval_id)
    if approval is None:
        raise HttpError(404, "no such approval")
    return approval


@router.get("/approvals/{approval_id}", response={200: ApprovalDetailOut, **ERRORS})
def approval_get(request: HttpRequest, approval_id: int) -> dict[str, Any]:
    """One approval with the run so far, its history, and whether the caller may decide it."""
    approval = _approval_or_404(approval_id)
    return selectors.approval_detail_dict(approval, user=request.user)


@router.post(
    "/approvals/{approval_id}/decision",
    response={200: ApprovalOut, **ERRORS},
    summary="Approve (optionally with an edited output), reject, send back, or reassign",
    auth=requires(Capability.DECIDE),
)
def approval_decide(request: HttpRequest, approval_id: int, payload: DecisionIn) -> Any:
    try:
        if payload.decision == "reassign":
            assignee = payload.assignee
            if assignee is None:
                raise decisions.ApprovalError("reassign needs an assignee: a user or a role")
            decisions.approval_reassign(
                approval_id=approval_id,
                user=request.user,
                to_user=assignee.user,
                to_role=assignee.role,
                note=payload.reason,
            )
        else:
            decisions.approval_decide(
                approval_id=approval_id,
                user=request.user,
                decision=decisions.Decision(
                    decision=payload.decision,
                    output=payload.output,
                    reason=payload.reason,
                    shown_hash=payload.shown_hash,
                    send_back=payload.send_back,
                    channel="api",
                    review_seconds=payload.review_seconds,
                ),
            )
    except decisions.ApprovalError as exc:
        return error_response(request, exc.status, exc.code, exc.message)
    return selectors.approval_dict(_approval_or_404(approval_id))
