"""The approvals inbox: the list, an approval's detail, decisions, reassigning, bulk approve,
the edit diff, and earned autonomy on the flow page. Thin: parse, authorise, call one domain
function (``flows.approvals.decisions``, ``autonomy``, ``review``), render partials built by
``flows.approvals.pages``.

Each decision form posts to the same view whether it sits in the inbox's detail pane or on a
run page's approval card; ``origin`` says which partial to answer with. Without htmx every
action redirects back with a message.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import push_url

from controlroom import jsondata
from controlroom.roles import Capability, can
from flows import pages
from flows.approvals import autonomy, decisions, edits, review
from flows.approvals import pages as approval_pages
from flows.approvals import selectors as inbox_selectors
from flows.approvals.access import may_decide
from flows.approvals.live import rows_version
from flows.approvals.selectors import InboxFilters
from flows.models import Approval, Flow

INBOX = "approvals/inbox.html"
CARD = "approvals/approval_card.html#approval_card"
AUTONOMY = "approvals/approval_autonomy.html"
MAX_REASON = 2000
MAX_BULK = 100


def _require(request: HttpRequest, capability: Capability) -> None:
    if not can(request.user, capability):
        raise PermissionDenied(f"your role may not {capability.value}")


def _is_htmx(request: HttpRequest) -> bool:
    return bool(getattr(request, "htmx", False))


def _approval_or_404(approval_id: int) -> Approval:
    approval = inbox_selectors.approval_get(approval_id=approval_id)
    if approval is None:
        raise Http404("no such approval")
    return approval


def _filters(request: HttpRequest, data: QueryDict | None = None) -> InboxFilters:
    return InboxFilters.parse(data if data is not None else request.GET, user=request.user)


def _page(request: HttpRequest, filters: InboxFilters, opened: Approval | None) -> HttpResponse:
    context = approval_pages.inbox_page_context(
        user=request.user, filters=filters, open_approval=opened
    )
    detail = context["detail"]
    if detail is not None:
        decisions.approval_open(approval_id=detail.approval.id, user=request.user)
        context.update(
            approval_pages.detail_context(detail.approval, user=request.user, filters=filters)
        )
    shown = [row.approval.id for row in context["rows"]]
    context.update(
        nav="approvals",
        live_url=pages.live_url(
            "approvals",
            **filters.as_params(),
            open=detail.approval.id if detail else None,
            v=rows_version(shown),
        ),
    )
    return render(request, INBOX, context)


# --- reading ---------------------------------------------------------------------------------


@login_required
@require_GET
def approval_list(request: HttpRequest) -> HttpResponse:
    """The inbox: pending approvals for me (or all), filtered, soonest deadline first, with the
    first one open."""
    _require(request, Capability.VIEW)
    return _page(request, _filters(request), None)


@login_required
@require_GET
def approval_detail(request: HttpRequest, approval_id: int) -> HttpResponse:
    """One approval: the inbox page with it open, or (htmx) the detail pane alone —
    ``?part=status`` for just its status strip (the live inbox asks for it when the item
    changed under the approver's eyes)."""
    _require(request, Capability.VIEW)
    approval = _approval_or_404(approval_id)
    filters = _filters(request)
    if not _is_htmx(request):
        return _page(request, filters, approval)
    if request.GET.get("part") == "status":
        context = approval_pages.detail_context(
            approval, user=request.user, filters=filters, full=False
        )
        # The decision area is redrawn only when what it offers changed (decided, moved away
        # from this approver, or a new draft): a reminder or an escalation keeps an edit typed
        # into it. A stale draft is also refused on approval (shown_hash), whatever the page.
        unchanged = context["detail"].may_decide and request.GET.get("shown") == approval.shown_hash
        return render(request, f"{INBOX}#detail_status", {**context, "oob_actions": not unchanged})
    decisions.approval_open(approval_id=approval.id, user=request.user)
    context = approval_pages.detail_context(approval, user=request.user, filters=filters)
    return render(request, f"{INBOX}#detail", context)


@login_required
@require_POST
def approval_seen(request: HttpRequest, approval_id: int) -> JsonResponse:
    """A review heartbeat from the inbox page (``static/js/review.js``): ``active_ms`` of time
    the approval was on screen, visible, focused and not idle. Answers what was credited."""
    _require(request, Capability.DECIDE)
    try:
        credited = review.approval_seen(
            approval_id=approval_id, user=request.user, active_ms=request.POST.get("active_ms")
        )
    except review.ReviewError as exc:
        return JsonResponse({"code": exc.code, "message": exc.message}, status=exc.status)
    return JsonResponse({"credited_ms": credited})


@login_required
@require_GET
def approval_insights(request: HttpRequest) -> HttpResponse:
    """Decisions per agent and per flow over the last days (loaded when its panel opens)."""
    _require(request, Capability.VIEW)
    return render(request, f"{INBOX}#insights", approval_pages.rollups_context())


# --- deciding ----------------------------------------------------------------------------------


def _clean(text: str) -> str:
    """Form text as stored: line ends normalised, NUL (which PostgreSQL refuses) dropped."""
    return text.replace("\r\n", "\n").replace("\x00", "")


def _edited_output(approval: Approval, post: QueryDict) -> Any:
    """The approver's edit as the value to approve, or None when nothing was changed.
    Raises ``edits.EditError`` when it cannot be read."""
    draft: Any = approval.draft
    if edits.is_tool_call(draft) and any(key.startswith("arg:") for key in post):
        fields = edits.argument_fields(draft) or []
        arguments = edits.arguments_from_form(draft, fields, post)
        value: Any = {"tool": draft["tool"], "arguments": arguments}
        return None if value == draft else value
    text = post.get("output")
    if text is None:
        return None
    text = _clean(text)
    if isinstance(draft, str) or draft is None:
        return None if text.strip() == (draft or "").strip() else text
    try:
        value = jsondata.json_parse(text)
    except ValueError as exc:
        raise edits.EditError(f"the edited draft is not valid JSON: {exc}") from None
    return None if value == draft else value


def _decision(request: HttpRequest, approval: Approval) -> decisions.Decision:
    choice = request.POST.get("decision", "")
    reason = _clean(request.POST.get("reason", "")).strip()[:MAX_REASON]
    send_back = request.POST.get("send_back") == "1"
    if choice == "reject" and not reason and request.POST.get("origin") == "inbox":
        raise edits.EditError("say why: a rejection needs a reason (or notes to send back)")
    active_ms = None
    if request.POST.get("active_ms"):  # the page's last unsent review time (static/js/review.js)
        try:
            active_ms = review.check_active_ms(request.POST["active_ms"])
        except review.ReviewError as exc:
            raise edits.EditError(exc.message) from None
    return decisions.Decision(
        decision="reject" if send_back else choice,
        output=_edited_output(approval, request.POST) if choice == "approve" else None,
        reason=reason,
        shown_hash=request.POST.get("shown_hash", ""),  # required: the domain refuses ""
        send_back=send_back,
        active_ms=active_ms,
    )


DONE_WORDS = {"approve": "Approved", "reject": "Rejected"}


@login_required
@require_POST
def approval_decide(request: HttpRequest, approval_id: int) -> HttpResponse:
    _require(request, Capability.DECIDE)
    approval = _approval_or_404(approval_id)
    error, status, decision = "", 200, None
    try:
        decision = _decision(request, approval)
        decisions.approval_decide(approval_id=approval.id, user=request.user, decision=decision)
    except edits.EditError as exc:
        error, status = str(exc), 422
    except decisions.ApprovalError as exc:
        if exc.status == 403:
            raise PermissionDenied(exc.message) from None
        error, status = exc.message, exc.status
    done = ""
    if not error and decision is not None:
        done = "Sent back" if decision.send_back else DONE_WORDS[decision.decision]
        done = f"{done}: {approval.title}"
    return _after(request, approval, error=error, status=status, done=done)


def _after(
    request: HttpRequest, approval: Approval, *, error: str, status: int, done: str
) -> HttpResponse:
    """Answer an action on ``approval``: its run-page card, the inbox pane (the next item once
    this one is done), or a redirect."""
    fresh = inbox_selectors.approval_get(approval_id=approval.id) or approval
    origin = request.POST.get("origin", "card")
    if _is_htmx(request) and origin == "card":
        context = approval_pages.approval_card_context(fresh, user=request.user, error=error)
        return render(request, CARD, context, status=status)
    if _is_htmx(request):
        filters = _filters(request, request.POST)
        if error or (may_decide(request.user, fresh) and fresh.status == "pending"):
            context = approval_pages.detail_context(
                fresh, user=request.user, filters=filters, error=error
            )
            return render(request, f"{INBOX}#detail", context, status=status)
        return _next(request, filters, notice=done)
    if error:
        messages.error(request, error)
    elif done:
        messages.success(request, done)
    target = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        target = reverse("approval_list")
    return redirect(target)


def _next(request: HttpRequest, filters: InboxFilters, *, notice: str) -> HttpResponse:
    """The detail of the next item waiting in the inbox (or inbox zero), URL pushed."""
    following = inbox_selectors.inbox_list(user=request.user, filters=filters).first()
    if following is None:
        context = approval_pages.empty_detail_context(filters=filters, notice=notice)
        response = render(request, f"{INBOX}#detail", context)
        return push_url(response, approval_pages.inbox_url(filters))
    decisions.approval_open(approval_id=following.id, user=request.user)
    context = approval_pages.detail_context(
        following, user=request.user, filters=filters, notice=notice
    )
    response = render(request, f"{INBOX}#detail", context)
    return push_url(response, approval_pages.inbox_url(filters, following.id))


@login_required
@require_POST
def approval_reassign(request: HttpRequest, approval_id: int) -> HttpResponse:
    _require(request, Capability.DECIDE)
    approval = _approval_or_404(approval_id)
    kind, _, name = request.POST.get("assignee", "").partition(":")
    error, status, done = "", 200, ""
    try:
        decisions.approval_reassign(
            approval_id=approval.id,
            user=request.user,
            to_user=name if kind == "user" else None,
            to_role=name if kind == "role" else None,
            note=_clean(request.POST.get("note", "")).strip()[:MAX_REASON],
        )
        done = f"Reassigned to {name if kind == 'user' else 'any ' + name}: {approval.title}"
    except decisions.ApprovalError as exc:
        if exc.status == 403:
            raise PermissionDenied(exc.message) from None
        error, status = exc.message, exc.status
    return _after(request, approval, error=error, status=status, done=done)


@login_required
@require_POST
def approval_diff(request: HttpRequest, approval_id: int) -> HttpResponse:
    """The diff of the edit in progress against the agent's version (computed here)."""
    _require(request, Capability.DECIDE)
    approval = _approval_or_404(approval_id)
    try:
        output = _edited_output(approval, request.POST)
    except edits.EditError as exc:
        return render(request, f"{INBOX}#diff", {"approval": approval, "diff_error": str(exc)})
    return render(request, f"{INBOX}#diff", approval_pages.diff_context(approval, output))


@login_required
@require_POST
def approval_bulk(request: HttpRequest) -> HttpResponse:
    """Approve the selected items as shown, each bound to the hash of what the list showed."""
    _require(request, Capability.DECIDE)
    items: list[tuple[int, str | None]] = []
    for raw in request.POST.getlist("ids")[:MAX_BULK]:
        if raw.isdigit():
            items.append((int(raw), request.POST.get(f"hash_{raw}") or None))
    result = decisions.approval_bulk_approve(items=items, user=request.user)
    if _is_htmx(request):
        titles = dict(
            Approval.objects.filter(id__in=[i for i, _ in items]).values_list("id", "title")
        )
        refused = [(titles.get(i, f"#{i}"), message) for i, message in result.refused]
        context = {"approved": len(result.approved), "refused": refused}
        return render(request, f"{INBOX}#bulk_result", context)
    if result.approved:
        messages.success(request, f"Approved {len(result.approved)}.")
    for approval_id, message in result.refused:
        messages.error(request, f"#{approval_id}: {message}")
    return redirect("approval_list")


# --- earned autonomy ------------------------------------------------------------------------------


@login_required
@require_POST
def approval_autonomy(request: HttpRequest, slug: str, node_id: str) -> HttpResponse:
    """A designer turns sampling on (while the evidence meets the rule) or off for one node."""
    _require(request, Capability.DESIGN)
    flow = Flow.objects.filter(slug=slug).first()
    nodes = (
        {node: config for node, _, config in inbox_selectors.approval_nodes(flow)} if flow else {}
    )
    if flow is None or node_id not in nodes:
        raise Http404("no such approval node")
    error = ""
    try:
        autonomy.autonomy_set(
            flow=flow,
            node_id=node_id,
            config=nodes[node_id],
            user=request.user,
            enabled=request.POST.get("enabled") == "1",
        )
    except autonomy.AutonomyError as exc:
        error = str(exc)
    if _is_htmx(request):
        context = approval_pages.autonomy_context(flow, user=request.user, error=error)
        return render(request, AUTONOMY, context, status=409 if error else 200)
    if error:
        messages.error(request, error)
    return redirect("flow_detail", slug=flow.slug)
