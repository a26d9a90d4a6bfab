"""HTML pages of flows and runs. Thin: parse, authorise, call one domain function, render.
Contexts come from ``flows.pages``, shared with the live fragments (``flows.live``)."""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseClientRedirect

from controlroom import jsondata
from controlroom.pagination import BadCursor, page
from controlroom.roles import Capability, can
from flows import pages, selectors
from flows.approvals import pages as approval_pages
from flows.engine import runs
from flows.killswitch import selectors as killswitch_selectors
from flows.models import Flow, Run
from flows.states import ErrorClass, RunStatus

MAX_INPUT_BYTES = 200_000


def _require(request: HttpRequest, capability: Capability) -> None:
    if not can(request.user, capability):
        raise PermissionDenied(f"your role may not {capability.value}")


def _flow_or_404(slug: str) -> Flow:
    flow = selectors.flow_get(slug=slug)
    if flow is None:
        raise Http404(f"no flow {slug!r}")
    return flow


def _run_or_404(run_id: uuid.UUID) -> Run:
    run = selectors.run_get(run_id=run_id)
    if run is None:
        raise Http404("no such run")
    return run


def _is_htmx(request: HttpRequest) -> bool:
    return bool(getattr(request, "htmx", False))


# --- flows --------------------------------------------------------------------------------------


@login_required
@require_GET
def flow_list(request: HttpRequest) -> HttpResponse:
    _require(request, Capability.VIEW)
    context = {
        "nav": "flows",
        "flows": list(selectors.flow_overview_list()),
        **pages.flow_row_context(None, user=request.user),
        "live_url": pages.live_url("flows"),
    }
    return render(request, "flows/flow_list.html", context)


def _flow_page(request: HttpRequest, flow: Flow, **extra: Any) -> dict[str, Any]:
    return {
        "nav": "flows",
        **pages.flow_page_context(flow, user=request.user),
        "can_operate": can(request.user, Capability.OPERATE),
        "show_flow": False,
        "live_url": pages.live_url(f"flow.{flow.id}", limit=pages.RECENT_RUNS),
        **approval_pages.autonomy_context(flow, user=request.user),
        **pages.flow_launch_context(flow),
        "switch": killswitch_selectors.state(flow=flow),
        **extra,
    }


@login_required
@require_GET
def flow_detail(request: HttpRequest, slug: str) -> HttpResponse:
    _require(request, Capability.VIEW)
    return render(request, "flows/flow_detail.html", _flow_page(request, _flow_or_404(slug)))


@login_required
@require_POST
def flow_run_start(request: HttpRequest, slug: str) -> HttpResponse:
    _require(request, Capability.OPERATE)
    flow = _flow_or_404(slug)
    raw = request.POST.get("input", "")
    try:
        if len(raw.encode()) > MAX_INPUT_BYTES:
            raise runs.RunError(f"input is larger than {MAX_INPUT_BYTES // 1000} kB")
        try:
            data = jsondata.json_parse(raw or "{}")
        except ValueError as exc:
            raise runs.RunError(f"input is not valid JSON: {exc}") from None
        run, _ = runs.run_start(flow=flow, input=data, user=request.user)
    except runs.RunError as exc:
        context = _flow_page(
            request, flow, sample_input=raw, start_error=exc.message, start_details=exc.details
        )
        return render(request, "flows/flow_detail.html", context, status=422)
    return redirect("run_detail", run_id=run.id)


# --- runs ---------------------------------------------------------------------------------------


@login_required
@require_GET
def run_list(request: HttpRequest) -> HttpResponse:
    _require(request, Capability.VIEW)
    slug = request.GET.get("flow", "")
    flow = _flow_or_404(slug) if slug else None
    status = request.GET.get("status", "")
    if status not in {s.value for s in RunStatus}:
        status = ""
    error_class = request.GET.get("error_class", "")
    if error_class not in {c.value for c in ErrorClass}:
        error_class = ""
    cursor = request.GET.get("cursor", "")
    try:
        rows, next_cursor = page(
            selectors.run_list(flow=flow, status=status or None, error_class=error_class or None),
            cursor=cursor or None,
            limit=pages.RUNS_PER_PAGE,
        )
    except BadCursor:
        return HttpResponseBadRequest("that page link is no longer valid")
    context = {
        "nav": "runs",
        "runs": rows,
        "next_cursor": next_cursor,
        "cursor": cursor,
        "flow": flow,
        "status": status,
        "error_class": error_class,
        "flows": selectors.flow_list(),
        "statuses": [(s.value, pages.state_label(s.value)) for s in RunStatus],
        "error_classes": [(c.value, c.value.capitalize()) for c in ErrorClass],
        "show_flow": flow is None,
        "live_url": pages.live_url(
            f"flow.{flow.id}" if flow else "runs",
            status=status,
            error_class=error_class,
            cursor=cursor,
        ),
    }
    return render(request, "flows/run_list.html", context)


def _run_page(request: HttpRequest, run: Run) -> dict[str, Any]:
    return {
        "nav": "runs",
        **pages.run_header_context(run, user=request.user),
        **pages.run_graph_context(run),
        **pages.timeline_context(run),
        **approval_pages.run_approvals_context(run, user=request.user),
    }


@login_required
@require_GET
def run_detail(request: HttpRequest, run_id: uuid.UUID) -> HttpResponse:
    _require(request, Capability.VIEW)
    # Read the history count before anything else: if it differs when the socket opens,
    # something changed in between and the page is brought up to date.
    rev = selectors.run_rev(run_id=run_id)
    run = _run_or_404(run_id)
    context = {**_run_page(request, run), "live_url": pages.live_url(f"run.{run.id}", rev=rev)}
    return render(request, "flows/run_detail.html", context)


@login_required
@require_GET
def step_detail(request: HttpRequest, run_id: uuid.UUID, step_id: int) -> HttpResponse:
    """A step's input, output and error: loaded into its timeline row when the row is first
    opened (rows stay light on runs with hundreds of steps), or as a page of its own."""
    _require(request, Capability.VIEW)
    run = _run_or_404(run_id)
    step = selectors.step_get(step_id=step_id)
    if step is None or step.run_id != run.id:
        raise Http404("no such step in this run")
    context = pages.step_row_context(step, run=run)
    if _is_htmx(request):
        return render(request, "flows/run_detail.html#step_io", context)
    return render(request, "flows/step_detail.html", {"nav": "runs", **context})


def _header_response(request: HttpRequest, run_id: uuid.UUID, error: str) -> HttpResponse:
    if _is_htmx(request):
        context = {
            **pages.run_header_context(_run_or_404(run_id), user=request.user),
            "action_error": error,
        }
        return render(
            request, "flows/run_detail.html#run_header", context, status=409 if error else 200
        )
    if error:
        messages.error(request, error)
    return redirect("run_detail", run_id=run_id)


@login_required
@require_POST
def run_cancel(request: HttpRequest, run_id: uuid.UUID) -> HttpResponse:
    _require(request, Capability.OPERATE)
    run = _run_or_404(run_id)
    try:
        runs.run_cancel(run_id=run.id, reason=f"cancelled by {request.user.get_username()}")
    except runs.RunError as exc:
        return _header_response(request, run.id, exc.message)
    return _header_response(request, run.id, "")


@login_required
@require_POST
def run_retry(request: HttpRequest, run_id: uuid.UUID) -> HttpResponse:
    _require(request, Capability.OPERATE)
    run = _run_or_404(run_id)
    try:
        retry = runs.run_retry(run_id=run.id, user=request.user)
    except runs.RunError as exc:
        return _header_response(request, run.id, exc.message)
    url = reverse("run_detail", kwargs={"run_id": retry.id})
    return HttpResponseClientRedirect(url) if _is_htmx(request) else redirect(url)
