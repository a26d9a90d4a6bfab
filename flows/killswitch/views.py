"""The kill switch's HTML actions: pause/resume one flow (its page), pause/resume everything
(the control on every page, admins only). Thin: authorise, call ``flows.killswitch.pause``,
redirect back. The API (``flows.killswitch.api``) calls the same functions."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from controlroom.roles import Capability, Role, can, roles_of
from flows import selectors
from flows.killswitch import pause

ACTIONS = ("pause", "resume")


def _action(request: HttpRequest) -> str | None:
    action = request.POST.get("action", "")
    return action if action in ACTIONS else None


def _reason(request: HttpRequest) -> str:
    return request.POST.get("reason", "").strip()[: pause.MAX_REASON_CHARS]


@login_required
@require_POST
def flow_switch(request: HttpRequest, slug: str) -> HttpResponse:
    if not can(request.user, Capability.OPERATE):
        raise PermissionDenied("your role may not operate flows")
    flow = selectors.flow_get(slug=slug)
    if flow is None:
        raise Http404(f"no flow {slug!r}")
    action = _action(request)
    if action is None:
        return HttpResponseBadRequest("action must be 'pause' or 'resume'")
    if action == "pause":
        count = pause.flow_pause(flow=flow, user=request.user, reason=_reason(request))
        messages.warning(request, f"{flow.name} is paused ({count} runs held).")
    else:
        count = pause.flow_resume(flow=flow, user=request.user)
        messages.success(request, f"{flow.name} resumed ({count} runs continue).")
    return redirect("flow_detail", slug=flow.slug)


@login_required
@require_POST
def kill_switch(request: HttpRequest) -> HttpResponse:
    if Role.ADMIN not in roles_of(request.user):
        raise PermissionDenied("only an admin may pause or resume everything")
    action = _action(request)
    if action is None:
        return HttpResponseBadRequest("action must be 'pause' or 'resume'")
    if action == "pause":
        count = pause.global_pause(user=request.user, reason=_reason(request))
        messages.warning(request, f"Everything is paused ({count} runs held).")
    else:
        count = pause.global_resume(user=request.user)
        messages.success(request, f"Everything resumed ({count} runs continue).")
    back = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(
        back, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        back = "/"
    return redirect(back)
