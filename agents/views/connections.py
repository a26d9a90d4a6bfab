"""Provider connections: list, create, edit (designers and admins). An admin saving a
connection binds its key secret to it as saved; a designer's save binds nothing (the key is
refused until an admin allows it)."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from agents import forms, selectors
from agents.connections import ConnectionInvalid, connection_create, connection_update
from agents.models import ProviderConnection
from agents.views.common import add_problems, is_admin, require, section
from controlroom.roles import Capability, can


def _connection_or_404(slug: str) -> ProviderConnection:
    connection = selectors.connection_get(slug=slug)
    if connection is None:
        raise Http404(f"no connection {slug!r}")
    return connection


@login_required
@require_GET
def connection_list(request: HttpRequest) -> HttpResponse:
    require(request, Capability.VIEW)
    context = section(
        "connections",
        connections=list(selectors.connection_list()),
        can_design=can(request.user, Capability.DESIGN),
    )
    return render(request, "agents/connection_list.html", context)


def _connection_form_page(
    request: HttpRequest,
    form: forms.ConnectionForm,
    *,
    connection: ProviderConnection | None,
    status: int = 200,
) -> HttpResponse:
    context = section("connections", form=form, connection=connection)
    return render(request, "agents/connection_form.html", context, status=status)


def _connection_fields(form: forms.ConnectionForm) -> dict[str, Any]:
    data = form.cleaned_data
    return {
        "kind": data["kind"],
        "base_url": data["base_url"],
        "api_key": data["api_key"] or None,
        "timeout_seconds": data["timeout_seconds"],
    }


@login_required
@require_http_methods(["GET", "POST"])
def connection_new(request: HttpRequest) -> HttpResponse:
    require(request, Capability.DESIGN)
    if request.method != "POST":
        return _connection_form_page(request, forms.ConnectionForm(), connection=None)
    form = forms.ConnectionForm(request.POST)
    if form.is_valid():
        try:
            connection = connection_create(
                slug=form.cleaned_data["slug"],
                bind_key=is_admin(request),
                **_connection_fields(form),
            )
        except ConnectionInvalid as exc:
            add_problems(form, exc.problems)
        else:
            messages.success(request, f"Connection {connection.slug} created.")
            return redirect("connection_list")
    return _connection_form_page(request, form, connection=None, status=422)


@login_required
@require_http_methods(["GET", "POST"])
def connection_edit(request: HttpRequest, slug: str) -> HttpResponse:
    require(request, Capability.DESIGN)
    connection = _connection_or_404(slug)
    initial = {
        "slug": connection.slug,
        "kind": connection.kind,
        "base_url": connection.base_url,
        "api_key": connection.api_key.name if connection.api_key else "",
        "timeout_seconds": connection.timeout_seconds,
    }
    if request.method != "POST":
        form = forms.ConnectionForm(initial=initial, editing=True)
        return _connection_form_page(request, form, connection=connection)
    form = forms.ConnectionForm(request.POST, initial=initial, editing=True)
    if form.is_valid():
        try:
            connection_update(
                connection=connection, bind_key=is_admin(request), **_connection_fields(form)
            )
        except ConnectionInvalid as exc:
            add_problems(form, exc.problems)
        else:
            messages.success(request, f"Connection {connection.slug} saved.")
            return redirect("connection_list")
    return _connection_form_page(request, form, connection=connection, status=422)
