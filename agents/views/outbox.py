"""The outbox: every outbound message, filterable by status, newest first, with what the
configured e-mail backend does with them (delivered over SMTP, or only printed)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET

from agents import selectors
from agents.models import OutboxMessage
from agents.views.common import require, section
from controlroom.mail import mail_transport_current, transport_delivers, transport_describe
from controlroom.pagination import BadCursor, page
from controlroom.roles import Capability

OUTBOX_PER_PAGE = 50


@login_required
@require_GET
def outbox_list(request: HttpRequest) -> HttpResponse:
    require(request, Capability.VIEW)
    status = request.GET.get("status", "")
    if status not in OutboxMessage.Status.values:
        status = ""
    cursor = request.GET.get("cursor", "")
    counts = selectors.outbox_counts()
    try:
        rows, next_cursor = page(
            selectors.outbox_list(status=status or None),
            cursor=cursor or None,
            limit=OUTBOX_PER_PAGE,
        )
    except BadCursor:
        return HttpResponseBadRequest("that page link is no longer valid")
    transport = mail_transport_current()
    context = section(
        "outbox",
        outbox=rows,
        transport_now=transport_describe(transport),
        transport_delivers=transport_delivers(transport),
        status=status,
        statuses=OutboxMessage.Status.choices,
        status_counts=[
            (value, label, counts.get(value, 0)) for value, label in OutboxMessage.Status.choices
        ],
        cursor=cursor,
        next_cursor=next_cursor,
        newest_url=reverse("outbox_list") + (f"?status={status}" if status else ""),
    )
    return render(request, "agents/outbox_list.html", context)
