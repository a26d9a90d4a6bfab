"""The flow editor page: a Django page that mounts the React Flow island (``frontend/editor``).

Thin: authorise, read the latest version, render. Everything the island changes goes through
the JSON API (validate, save, publish, run), so the page itself never writes.
"""

from __future__ import annotations

import re
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.middleware.csrf import get_token
from django.shortcuts import render
from django.views.decorators.http import require_GET

from controlroom.roles import Capability, can
from flows import selectors
from flows.demo import demo_documents
from flows.document import SCHEMA_ID, SLUG_PATTERN


def _blank_document(*, slug: str, name: str) -> dict[str, Any]:
    return {
        "schema": SCHEMA_ID,
        "slug": slug,
        "name": name,
        "trigger": {"type": "manual"},
        "nodes": [],
        "edges": [],
    }


def _templates() -> dict[str, dict[str, Any]]:
    """The gallery: every demo flow document by its slug (blank is built on demand)."""
    return {document["slug"]: document for document in demo_documents()}


def _boot(request: HttpRequest, **fields: Any) -> dict[str, Any]:
    return {
        "can_edit": can(request.user, Capability.DESIGN),
        "can_operate": can(request.user, Capability.OPERATE),
        "csrf": get_token(request),
        "is_new": False,
        **fields,
    }


@login_required
@require_GET
def flow_editor(request: HttpRequest, slug: str) -> HttpResponse:
    """Designers and admins edit; any other role that may view gets the canvas read-only."""
    if not can(request.user, Capability.VIEW):
        raise PermissionDenied("your role may not view flows")
    flow = selectors.flow_get(slug=slug)
    if flow is None:
        raise Http404(f"no flow {slug!r}")
    latest = flow.versions.order_by("-number").first()
    boot = _boot(
        request,
        slug=flow.slug,
        name=flow.name,
        flow_id=flow.id,
        version=latest.number if latest else None,
        live_version=flow.live_version.number if flow.live_version else None,
        document=(
            dict(latest.document) if latest else _blank_document(slug=flow.slug, name=flow.name)
        ),
    )
    context = {"nav": "flows", "flow": flow, "boot": boot, "can_edit": boot["can_edit"]}
    return render(request, "flows/editor.html", context)


@login_required
@require_GET
def flow_new(request: HttpRequest) -> HttpResponse:
    """The templates gallery; with ``template``, ``name`` and ``slug`` chosen, the editor on an
    unsaved copy of that template (nothing exists until the designer saves it)."""
    if not can(request.user, Capability.DESIGN):
        raise PermissionDenied("your role may not design flows")
    templates = _templates()
    chosen = request.GET.get("template", "")
    name = request.GET.get("name", "").strip()
    slug = request.GET.get("slug", "").strip()
    error = ""
    if "template" in request.GET:
        if chosen != "blank" and chosen not in templates:
            error = "Choose a template."
        elif not name:
            error = "Give the flow a name."
        elif not re.fullmatch(SLUG_PATTERN.strip("^$"), slug):
            error = "The slug takes lower-case letters, digits and hyphens."
        elif selectors.flow_get(slug=slug) is not None:
            error = f"A flow with the slug {slug!r} exists already."
        else:
            document = (
                _blank_document(slug=slug, name=name)
                if chosen == "blank"
                else {**templates[chosen], "slug": slug, "name": name}
            )
            boot = _boot(
                request,
                slug=slug,
                name=name,
                version=None,
                live_version=None,
                is_new=True,
                document=document,
            )
            context: dict[str, Any] = {"nav": "flows", "flow": None, "boot": boot}
            return render(request, "flows/editor.html", {**context, "can_edit": True})
    context = {
        "nav": "flows",
        "templates": list(templates.values()),
        "chosen": chosen or "blank",
        "name": name,
        "slug": slug,
        "error": error,
    }
    return render(request, "flows/editor_gallery.html", context)
