"""The audit log over the API: ``GET /api/audit`` with the page's filters, newest first,
cursor-paginated. Thin: parse, authorise, read."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Query, Router, Schema
from ninja.errors import HttpError, ValidationError
from pydantic import Field

from agents.audit import selectors as audit_selectors
from controlroom.api import ERRORS, requires
from controlroom.pagination import BadCursor, page
from controlroom.roles import Capability

router = Router(
    tags=["audit"],
    auth=requires(Capability.VIEW, refusal="your role may not view the audit log"),
)


class AuditQuery(Schema):
    kind: str = Field(default="", description="verdict | transition | decision | config")
    action: str = Field(default="", description="an action or its prefix (`flow.`)")
    actor: str = ""
    flow: str = Field(default="", description="flow slug")
    run: str = Field(default="", description="run id")
    subject: str = ""
    since: str = Field(default="", description="a date or ISO 8601 time (inclusive)")
    until: str = Field(default="", description="a date (inclusive) or ISO 8601 time (exclusive)")
    cursor: str = ""
    limit: int = Field(default=50, ge=1, le=500)


class AuditEventOut(Schema):
    seq: int | None = Field(description="position in the chain; null until sealed (seconds)")
    created_at: str
    kind: str
    action: str
    actor: str
    subject: str
    flow: str
    run_id: str | None
    step_id: int | None
    reason: str
    data: dict[str, Any]
    prev_hash: str
    hash: str


class AuditListOut(Schema):
    items: list[AuditEventOut]
    next_cursor: str | None = None


@router.get("/audit", response={200: AuditListOut, **ERRORS}, summary="The audit log")
def audit_list(request: HttpRequest, params: Query[AuditQuery]) -> Any:
    try:
        filters = audit_selectors.audit_filters(params.dict())
    except audit_selectors.FilterProblems as exc:
        raise ValidationError(
            [{"loc": ["query", name], "msg": message} for name, message in exc.details]
        ) from None
    try:
        rows, next_cursor = page(
            audit_selectors.audit_list(filters), cursor=params.cursor or None, limit=params.limit
        )
    except BadCursor as exc:
        raise HttpError(400, str(exc)) from None
    return {"items": [audit_selectors.audit_row(row) for row in rows], "next_cursor": next_cursor}
