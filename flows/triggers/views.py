"""Form pages generated from a flow's input schema: the public form trigger (CSRF, honeypot,
per-IP rate limit) and the logged-in manual start. Thin: parse, check, call run_start."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from controlroom import ratelimit
from controlroom.roles import Capability, can
from flows.engine import runs
from flows.models import Flow, FlowVersion
from flows.triggers import forms, live


def _flow_version(slug: str) -> tuple[Flow, FlowVersion]:
    """A manual start's flow and version: the live one, else the latest draft (a person who
    may operate the flow may run a draft on purpose)."""
    flow = Flow.objects.select_related("live_version").filter(slug=slug).first()
    version = (flow.live_version or flow.versions.order_by("-number").first()) if flow else None
    if flow is None or version is None:
        raise Http404("no such flow")
    return flow, version


def _submit(
    request: HttpRequest, flow: Flow, version: FlowVersion, *, public: bool
) -> tuple[Any, dict[str, Any]]:
    """Start a run from the posted form: ``(run, {})`` or ``(None, page context)``."""
    schema = version.document.get("input_schema")
    data, errors = forms.coerce(schema, request.POST)
    general: list[str] = []
    if not errors:
        try:
            run, _ = runs.run_start(
                flow=flow,
                input=data,
                version=version,
                user=None if public else request.user,
                defer_publish=public,
            )
            return run, {}
        except runs.RunError as exc:
            errors, general = forms.errors_from_details(exc.details)
            general = general or ([] if errors else [exc.message])
    fields = forms.fields_for(schema, request.POST)
    for item in fields:
        item.error = errors.get(item.name, "")
    return None, {"fields": fields, "general_errors": general}


@require_http_methods(["GET", "POST"])
def form_trigger(request: HttpRequest, slug: str) -> HttpResponse:
    """The public hosted form of a flow whose live version's trigger is ``form``. A flow with
    no live version answers 409 with a page that says so (no form, nothing started)."""
    flow = Flow.objects.filter(slug=slug).first()
    if flow is None:
        raise Http404("no such flow")
    try:
        version = live.trigger_version_get(flow=flow)
    except live.NotLive as exc:
        page = {"flow": flow, "message": exc.message}
        return render(request, "triggers/form_not_live.html", page, status=exc.status)
    if (version.document.get("trigger") or {}).get("type") != "form":
        raise Http404("this flow has no public form")
    context: dict[str, Any] = {"flow": flow, "honeypot": forms.HONEYPOT}
    if request.method == "GET":
        schema = version.document.get("input_schema")
        return render(
            request, "triggers/form.html", {**context, "fields": forms.fields_for(schema)}
        )
    limit, window = settings.CONTROLROOM["FORM_RATE_LIMIT"]
    ip = request.META.get("REMOTE_ADDR", "unknown")
    retry_after = ratelimit.hit(f"form:{flow.slug}:{ip}", limit=limit, window=window)
    if retry_after is not None:
        response = render(request, "triggers/form_limited.html", context, status=429)
        response["Retry-After"] = str(retry_after)
        return response
    if request.POST.get(forms.HONEYPOT):
        # A bot filled the field people cannot see: answer as if accepted, start nothing.
        return render(request, "triggers/form_thanks.html", context)
    run, page = _submit(request, flow, version, public=True)
    if run is None:
        return render(request, "triggers/form.html", {**context, **page}, status=422)
    return render(request, "triggers/form_thanks.html", {**context, "reference": run.id})


@login_required
@require_http_methods(["GET", "POST"])
def manual_start(request: HttpRequest, slug: str) -> HttpResponse:
    """Start a run by filling in the form generated from the flow's input schema."""
    if not can(request.user, Capability.OPERATE):
        raise PermissionDenied("your role may not start runs")
    flow, version = _flow_version(slug)
    context: dict[str, Any] = {"flow": flow, "nav": "flows"}
    if request.method == "GET":
        schema = version.document.get("input_schema")
        sample = version.document.get("sample_input") or {}
        return render(
            request,
            "triggers/manual_start.html",
            {**context, "fields": forms.fields_for(schema, sample)},
        )
    run, page = _submit(request, flow, version, public=False)
    if run is None:
        return render(request, "triggers/manual_start.html", {**context, **page}, status=422)
    return redirect("run_detail", run_id=run.id)
