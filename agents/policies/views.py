"""Policy pages: list (filterable, paginated), create and edit (with "Simulate before saving"),
enable/disable, delete, and the simulator for a saved policy. Thin: parse, authorise, call
``agents.policies.manage`` / ``agents.policies.simulator``, render. Only admins change global
policies (``manage.policy_authorise``): a designer's attempt answers 403 with the reason."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from agents.forms.policies import (
    EXAMPLES,
    KIND_HELP,
    PolicyFilterForm,
    PolicyForm,
    SimulationForm,
)
from agents.models import Policy
from agents.policies import manage
from agents.policies.simulator import SimulationError, policy_simulate, simulation_dict
from agents.views.common import is_admin, require
from controlroom.roles import Capability, can

POLICIES_PER_PAGE = 50


def _context(**extra: Any) -> dict[str, Any]:
    return {"nav": "policies", **extra}


def _policy_or_404(slug: str) -> Policy:
    policy = manage.policy_get(slug=slug)
    if policy is None:
        raise Http404(f"no policy {slug!r}")
    return policy


@login_required
@require_GET
def policy_list(request: HttpRequest) -> HttpResponse:
    require(request, Capability.VIEW)
    filters = PolicyFilterForm(request.GET)
    valid = filters.is_valid()
    data = filters.cleaned_data if valid else {}
    rows = manage.policy_list(
        manage.PolicyFilters(
            kind=data.get("kind") or "",
            scope=data.get("scope") or "",
            target=(data.get("target") or "").strip(),
            enabled=filters.enabled(),
            query=(data.get("q") or "").strip(),
        )
    ).order_by("-updated_at", "slug")
    policies_page = Paginator(rows, POLICIES_PER_PAGE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    context = _context(
        filters=filters,
        policies_page=policies_page,
        filtered=any(request.GET.get(name) for name in ("q", "kind", "scope", "target", "status")),
        query=query.urlencode(),
        can_design=can(request.user, Capability.DESIGN),
        can_govern_global=is_admin(request),
        kinds=KIND_HELP,
    )
    return render(request, "agents/policy_list.html", context)


def _simulate(values: dict[str, Any], period_form: SimulationForm) -> dict[str, Any] | None:
    """The simulation of ``values`` (a valid policy) over the form's period, or None (with
    the problem added to ``period_form``)."""
    if not period_form.is_valid():
        return None
    try:
        simulation = policy_simulate(manage.policy_spec(values), period=period_form.period())
    except SimulationError as exc:
        period_form.add_error(None, exc.message)
        return None
    return simulation_dict(simulation)


def _form_page(
    request: HttpRequest,
    form: PolicyForm,
    *,
    policy: Policy | None,
    period_form: SimulationForm | None = None,
    simulation: dict[str, Any] | None = None,
    status: int = 200,
) -> HttpResponse:
    context = _context(
        form=form,
        policy=policy,
        period_form=period_form or SimulationForm(prefix="sim"),
        simulation=simulation,
        kinds=KIND_HELP,
    )
    return render(request, "agents/policy_form.html", context, status=status)


def _submit(request: HttpRequest, form: PolicyForm, *, policy: Policy | None) -> HttpResponse:
    """Validate; then simulate (``action=simulate``: nothing saved) or save."""
    period_form = SimulationForm(request.POST, prefix="sim")
    if not form.is_valid():
        return _form_page(request, form, policy=policy, period_form=period_form, status=422)
    values = form.policy_values()
    if policy is not None:
        values["slug"] = policy.slug
    problems = manage.policy_check(manage.policy_defaults(values), creating=policy is None)
    if problems:
        form.add_problems(problems)
        return _form_page(request, form, policy=policy, period_form=period_form, status=422)
    if request.POST.get("action") == "simulate":
        simulation = _simulate(values, period_form)
        shown = period_form.shown() if simulation is not None else period_form
        return _form_page(request, form, policy=policy, period_form=shown, simulation=simulation)
    try:
        if policy is None:
            saved = manage.policy_create(values=values, user=request.user)
        else:
            values.pop("slug", None)
            saved = manage.policy_update(policy=policy, changes=values, user=request.user)
    except manage.PolicyForbidden as exc:
        form.add_error("scope", str(exc))
        return _form_page(request, form, policy=policy, period_form=period_form, status=403)
    except manage.PolicyInvalid as exc:
        form.add_problems(exc.problems)
        return _form_page(request, form, policy=policy, period_form=period_form, status=422)
    except manage.PolicyConflict as exc:
        form.add_error("slug", str(exc))
        return _form_page(request, form, policy=policy, period_form=period_form, status=409)
    state = "enabled" if saved.enabled else "saved disabled"
    messages.success(request, f"Policy {saved.name} {state}.")
    return redirect("policy_list")


@login_required
@require_http_methods(["GET", "POST"])
def policy_new(request: HttpRequest) -> HttpResponse:
    require(request, Capability.DESIGN)
    if request.method != "POST":
        kind = request.GET.get("kind", "")
        example = dict(EXAMPLES.get(kind, {}))
        scope = "global" if is_admin(request) else "flow"  # a global policy is an admin's
        initial = {"scope": scope, "kind": kind or "approval", "config": example}
        return _form_page(request, PolicyForm(initial=initial), policy=None)
    return _submit(request, PolicyForm(request.POST), policy=None)


@login_required
@require_GET
def policy_detail(request: HttpRequest, slug: str) -> HttpResponse:
    """One policy, read-only for every role that may view (the editor links here)."""
    require(request, Capability.VIEW)
    policy = _policy_or_404(slug)
    context = _context(
        policy=policy,
        config=json.dumps(policy.config, indent=2, ensure_ascii=False),
        explanation=manage.EXPLANATIONS.get(policy.kind, ""),
        can_design=can(request.user, Capability.DESIGN),
        can_govern_global=is_admin(request),
    )
    return render(request, "agents/policy_detail.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def policy_edit(request: HttpRequest, slug: str) -> HttpResponse:
    require(request, Capability.DESIGN)
    policy = _policy_or_404(slug)
    if request.method != "POST":
        return _form_page(request, PolicyForm.for_policy(policy), policy=policy)
    return _submit(request, PolicyForm.for_policy(policy, request.POST), policy=policy)


@login_required
@require_POST
def policy_toggle(request: HttpRequest, slug: str) -> HttpResponse:
    require(request, Capability.DESIGN)
    policy = _policy_or_404(slug)
    enabled = request.POST.get("enabled") == "1"
    try:
        manage.policy_enable(policy=policy, enabled=enabled, user=request.user)
    except manage.PolicyForbidden as exc:
        raise PermissionDenied(str(exc)) from None
    messages.success(request, f"Policy {policy.name} {'enabled' if enabled else 'disabled'}.")
    return redirect("policy_list")


@login_required
@require_POST
def policy_delete(request: HttpRequest, slug: str) -> HttpResponse:
    require(request, Capability.DESIGN)
    policy = _policy_or_404(slug)
    try:
        manage.policy_delete(policy=policy, user=request.user)
    except manage.PolicyForbidden as exc:
        raise PermissionDenied(str(exc)) from None
    messages.success(request, f"Policy {policy.name} deleted.")
    return redirect("policy_list")


@login_required
@require_GET
def policy_simulate_page(request: HttpRequest, slug: str) -> HttpResponse:
    """Replay a saved policy over a period (GET: the last 7 days unless chosen)."""
    require(request, Capability.VIEW)
    policy = _policy_or_404(slug)
    period_form = SimulationForm(request.GET, prefix="sim")
    simulation = None
    if period_form.is_valid():
        try:
            simulation = simulation_dict(policy_simulate(policy, period=period_form.period()))
            period_form = period_form.shown()
        except SimulationError as exc:
            period_form.add_error(None, exc.message)
    context = _context(
        policy=policy,
        period_form=period_form,
        simulation=simulation,
        can_design=can(request.user, Capability.DESIGN),
    )
    return render(request, "agents/policy_simulate.html", context)
