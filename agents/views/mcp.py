"""MCP servers: list, register and edit (admins: a server's category decides what policies
do with its tools), and "Refresh tools" (designers and admins)."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from agents import forms, mcp, selectors
from agents.mcp_servers import McpServerInvalid, mcp_server_create, mcp_server_update
from agents.models import McpServer
from agents.redaction import redact
from agents.views.common import add_problems, is_admin, pretty, require, require_admin, section
from controlroom.roles import Capability, can


def _server_or_404(slug: str) -> McpServer:
    server = selectors.mcp_server_get(slug=slug)
    if server is None:
        raise Http404(f"no MCP server {slug!r}")
    return server


@login_required
@require_GET
def mcp_server_list(request: HttpRequest) -> HttpResponse:
    require(request, Capability.VIEW)
    context = section("mcp", servers=list(selectors.mcp_server_list()), can_admin=is_admin(request))
    return render(request, "agents/mcp_server_list.html", context)


@login_required
@require_GET
def mcp_server_detail(request: HttpRequest, slug: str) -> HttpResponse:
    require(request, Capability.VIEW)
    server = _server_or_404(slug)
    tools = [
        {"tool": tool, "schema_text": pretty(tool.input_schema) or "{}"}
        for tool in server.tools.order_by("name")
    ]
    context = section(
        "mcp",
        server=server,
        tools=tools,
        can_admin=is_admin(request),
        can_design=can(request.user, Capability.DESIGN),
    )
    return render(request, "agents/mcp_server_detail.html", context)


def _server_form_page(
    request: HttpRequest, form: forms.McpServerForm, *, server: McpServer | None, status: int = 200
) -> HttpResponse:
    context = section("mcp", form=form, server=server)
    return render(request, "agents/mcp_server_form.html", context, status=status)


def _server_fields(form: forms.McpServerForm) -> dict[str, Any]:
    data = form.cleaned_data
    return {
        "name": data["name"],
        "transport": data["transport"],
        "command": data["command"],
        "args": data["args"],
        "url": data["url"],
        "category": data["category"],
        "headers_secret": data["headers_secret"] or None,
        "enabled": data["enabled"],
    }


@login_required
@require_http_methods(["GET", "POST"])
def mcp_server_new(request: HttpRequest) -> HttpResponse:
    require_admin(request)
    if request.method != "POST":
        form = forms.McpServerForm(initial={"transport": "stdio", "category": "read"})
        return _server_form_page(request, form, server=None)
    form = forms.McpServerForm(request.POST)
    if form.is_valid():
        try:
            server = mcp_server_create(slug=form.cleaned_data["slug"], **_server_fields(form))
        except McpServerInvalid as exc:
            add_problems(form, exc.problems)
        else:
            messages.success(request, f"MCP server {server.name} registered. Refresh its tools.")
            return redirect("mcp_server_detail", slug=server.slug)
    return _server_form_page(request, form, server=None, status=422)


@login_required
@require_http_methods(["GET", "POST"])
def mcp_server_edit(request: HttpRequest, slug: str) -> HttpResponse:
    require_admin(request)
    server = _server_or_404(slug)
    initial = forms.McpServerForm.initial_for(server)
    if request.method != "POST":
        form = forms.McpServerForm(initial=initial, editing=True)
        return _server_form_page(request, form, server=server)
    form = forms.McpServerForm(request.POST, initial=initial, editing=True)
    if form.is_valid():
        try:
            mcp_server_update(server=server, **_server_fields(form))
        except McpServerInvalid as exc:
            add_problems(form, exc.problems)
        else:
            messages.success(request, f"MCP server {server.name} saved.")
            return redirect("mcp_server_detail", slug=server.slug)
    return _server_form_page(request, form, server=server, status=422)


@login_required
@require_POST
def mcp_server_refresh(request: HttpRequest, slug: str) -> HttpResponse:
    """Connect to the server and list its tools now (the server may take seconds to answer)."""
    require(request, Capability.DESIGN)
    server = _server_or_404(slug)
    try:
        listed = mcp.mcp_server_list_tools(server)
    except mcp.McpServerError as exc:
        messages.error(request, f"Listing the tools of {server.name} failed: {redact(str(exc))}")
    else:
        messages.success(request, f"{server.name} lists {len(listed)} tool(s).")
    return redirect("mcp_server_detail", slug=server.slug)
