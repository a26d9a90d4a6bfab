"""The control-room home page and its one-click actions on stuck runs. Thin: parse, authorise,
call one domain function, render. Its panels come from ``flows.home``, shared with the live
fragments (``flows.live.ControlRoomHome``)."""

from __future__ import annotations

import uuid

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from controlroom.pagination import page
from controlroom.roles import Capability, can
from flows import home, pages, selectors
from flows.engine import reconciler, runs
from flows.models import Run


@login_required
@require_GET
def home_page(request: HttpRequest) -> HttpResponse:
    if not can(request.user, Capability.VIEW):
        raise PermissionDenied(f"your role may not {Capability.VIEW.value}")
    feed, _ = page(selectors.run_list(), cursor=None, limit=home.FEED_SIZE)
    context = {
        "nav": "home",
        **home.home_context(user=request.user),
        "runs": feed,
        "show_flow": True,
        "demo_present": selectors.demo_present(),
        "live_url": pages.live_url("home", "runs", limit=home.FEED_SIZE),
    }
    return render(request, "flows/home.html", context)


@login_required
@require_GET
def home_panels(request: HttpRequest) -> HttpResponse:
    """Health and the stuck-run alarm, re-read: they change with time passing (a worker's
    beacon expiring, a run crossing the stuck threshold), which no event announces."""
    if not can(request.user, Capability.VIEW):
        raise PermissionDenied(f"your role may not {Capability.VIEW.value}")
    context = {**home.home_context(user=request.user), "oob": True}
    return render(request, "flows/home.html#timed_panels", context)


def _stuck_run(request: HttpRequest, run_id: uuid.UUID) -> Run:
    if not can(request.user, Capability.OPERATE):
        raise PermissionDenied(f"your role may not {Capability.OPERATE.value}")
    run = selectors.run_get(run_id=run_id)
    if run is None:
        raise Http404("no such run")
    return run


def _stuck_response(request: HttpRequest, notice: str) -> HttpResponse:
    if getattr(request, "htmx", False):
        context = {**home.home_context(user=request.user), "stuck_notice": notice}
        # The notice goes into its own element: a live redraw of the panel must not erase it.
        return render(request, "flows/home.html#stuck_result", context)
    messages.info(request, notice)
    return redirect("home")


@login_required
@require_POST
def home_run_requeue(request: HttpRequest, run_id: uuid.UUID) -> HttpResponse:
    run = _stuck_run(request, run_id)
    if run.is_terminal:
        return _stuck_response(request, f"Run {str(run.id)[:8]} already ended ({run.status}).")
    count = reconciler.run_requeue(run_id=run.id, by=request.user.get_username())
    return _stuck_response(request, f"Run {str(run.id)[:8]}: {count} step(s) requeued.")


@login_required
@require_POST
def home_run_cancel(request: HttpRequest, run_id: uuid.UUID) -> HttpResponse:
    run = _stuck_run(request, run_id)
    who = request.user.get_username()
    try:
        runs.run_cancel(run_id=run.id, reason=f"cancelled from the stuck-run alarm by {who}")
    except runs.RunError as exc:
        return _stuck_response(request, exc.message)
    return _stuck_response(request, f"Run {str(run.id)[:8]} cancelled.")
