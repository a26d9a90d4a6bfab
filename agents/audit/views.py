"""The audit log page and its exports. Thin: parse the filters, authorise, read, render.

Who may read it: every role (``Capability.VIEW``: admins, designers, approvers, viewers).
What it shows is redacted at write time and summarises runs, approvals and configuration the
same roles can already open; people without a role see nothing.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponseBadRequest,
    StreamingHttpResponse,
)
from django.http.response import HttpResponseBase
from django.shortcuts import render
from django.utils import timezone
from django.utils.http import urlencode
from django.views.decorators.http import require_GET

from agents import audit
from agents.audit import selectors as audit_selectors
from agents.models import AuditEvent
from agents.views.common import require
from controlroom.pagination import BadCursor, page
from controlroom.roles import Capability

PER_PAGE = 50


@login_required
@require_GET
def audit_list(request: HttpRequest) -> HttpResponse:
    require(request, Capability.VIEW)
    problems: list[tuple[str, str]] = []
    try:
        filters = audit_selectors.audit_filters(request.GET)
    except audit_selectors.FilterProblems as exc:
        problems = exc.details
        filters = audit_selectors.AuditFilters()
    cursor = request.GET.get("cursor", "")
    try:
        rows, next_cursor = page(
            audit_selectors.audit_list(filters), cursor=cursor or None, limit=PER_PAGE
        )
    except BadCursor:
        return HttpResponseBadRequest("that page link is no longer valid")
    query = filters.query()
    context = {
        "nav": "audit",
        "events": rows,
        "filters": filters,
        "raw": {name: request.GET.get(name, "") for name in audit_selectors.FILTER_NAMES},
        "problems": problems,
        "kinds": AuditEvent.Kind.values,
        "chain": audit.audit_chain_status(),
        "cursor": cursor,
        "query": urlencode(query),
        "next_query": urlencode({**query, "cursor": next_cursor}) if next_cursor else "",
        "filtered": bool(query),
    }
    return render(request, "agents/audit.html", context, status=400 if problems else 200)


@login_required
@require_GET
def audit_export(request: HttpRequest, fmt: str) -> HttpResponseBase:
    """The filtered rows, oldest first, streamed as CSV or JSON Lines (with seq and hashes,
    so a copy can be checked against the chain)."""
    require(request, Capability.VIEW)
    try:
        filters = audit_selectors.audit_filters(request.GET)
    except audit_selectors.FilterProblems as exc:
        return HttpResponseBadRequest(str(exc))
    stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
    response: StreamingHttpResponse
    if fmt == "csv":
        response = StreamingHttpResponse(
            audit_selectors.export_csv(filters), content_type="text/csv; charset=utf-8"
        )
    else:
        response = StreamingHttpResponse(
            audit_selectors.export_jsonl(filters), content_type="application/x-ndjson"
        )
    response["Content-Disposition"] = f'attachment; filename="audit-{stamp}.{fmt}"'
    return response
