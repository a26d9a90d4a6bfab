"""Agent pages: list (filterable, archived hidden), detail, create, edit, archive."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from agents import agents as agent_domain
from agents import forms, selectors
from agents.models import Agent
from agents.views.common import add_problems, pretty, require, section
from controlroom.roles import Capability, can

AGENTS_PER_PAGE = 50


def _agent_or_404(slug: str) -> Agent:
    agent = selectors.agent_get(slug=slug)
    if agent is None:
        raise Http404(f"no agent {slug!r}")
    return agent


@login_required
@require_GET
def agent_list(request: HttpRequest) -> HttpResponse:
    require(request, Capability.VIEW)
    filters = forms.AgentFilterForm(request.GET)
    valid = filters.is_valid()
    rows = selectors.agent_list(
        archived=filters.archived(),
        provider=filters.cleaned_data.get("provider") if valid else None,
        query=filters.cleaned_data.get("q") if valid else None,
    )
    paginator = Paginator(rows, AGENTS_PER_PAGE)
    agents_page = paginator.get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    context = section(
        "agents",
        filters=filters,
        agents_page=agents_page,
        filtered=any(request.GET.get(name) for name in ("q", "provider", "status")),
        query=query.urlencode(),
        can_design=can(request.user, Capability.DESIGN),
    )
    return render(request, "agents/agent_list.html", context)


@login_required
@require_GET
def agent_detail(request: HttpRequest, slug: str) -> HttpResponse:
    require(request, Capability.VIEW)
    agent = _agent_or_404(slug)
    known = {tool["name"]: tool for tool in selectors.tool_choices()}
    context = section(
        "agents",
        agent=agent,
        tools=[known.get(name, {"name": name, "missing": True}) for name in agent.tools or []],
        schema_text=pretty(agent.output_schema),
        script_text=pretty(agent.script),
        cascade_text=pretty(agent.cascade),
        can_design=can(request.user, Capability.DESIGN),
    )
    return render(request, "agents/agent_detail.html", context)


def _agent_form_page(
    request: HttpRequest, form: forms.AgentForm, *, agent: Agent | None, status: int = 200
) -> HttpResponse:
    context = section("agents", form=form, agent=agent)
    return render(request, "agents/agent_form.html", context, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def agent_new(request: HttpRequest) -> HttpResponse:
    require(request, Capability.DESIGN)
    if request.method != "POST":
        return _agent_form_page(request, forms.AgentForm(), agent=None)
    form = forms.AgentForm(request.POST)
    if not form.is_valid():
        form.add_domain_problems(agent_domain.agent_values())
        return _agent_form_page(request, form, agent=None, status=422)
    try:
        agent = agent_domain.agent_create(values=form.agent_values())
    except agent_domain.AgentInvalid as exc:
        add_problems(form, exc.problems)
        return _agent_form_page(request, form, agent=None, status=422)
    except agent_domain.AgentConflict as exc:
        form.add_error("slug", str(exc))
        return _agent_form_page(request, form, agent=None, status=409)
    messages.success(request, f"Agent {agent.name} created.")
    return redirect("agent_detail", slug=agent.slug)


@login_required
@require_http_methods(["GET", "POST"])
def agent_edit(request: HttpRequest, slug: str) -> HttpResponse:
    require(request, Capability.DESIGN)
    agent = _agent_or_404(slug)
    if request.method != "POST":
        return _agent_form_page(request, forms.AgentForm(instance=agent, editing=True), agent=agent)
    form = forms.AgentForm(request.POST, instance=agent, editing=True)
    if not form.is_valid():
        form.add_domain_problems(agent_domain.agent_values(agent))
        return _agent_form_page(request, form, agent=agent, status=422)
    try:
        agent = agent_domain.agent_update(agent=agent, changes=form.agent_values())
    except agent_domain.AgentInvalid as exc:
        add_problems(form, exc.problems)
        return _agent_form_page(request, form, agent=agent, status=422)
    messages.success(request, f"Agent {agent.name} saved. Flow versions saved earlier keep theirs.")
    return redirect("agent_detail", slug=agent.slug)


@login_required
@require_POST
def agent_archive(request: HttpRequest, slug: str) -> HttpResponse:
    require(request, Capability.DESIGN)
    agent = _agent_or_404(slug)
    archived = request.POST.get("archived", "1") != "0"
    agent_domain.agent_archive(agent=agent, archived=archived)
    if archived:
        messages.success(request, f"Agent {agent.name} archived. New flow versions cannot use it.")
    else:
        messages.success(request, f"Agent {agent.name} is active again.")
    return redirect("agent_detail", slug=agent.slug)
