"""The flow editor page: a Django page that mounts the React Flow island (``frontend/editor``).

Thin: authorise, read the latest version, render. Everything the island changes goes through
the JSON API (validate, save, publish, run), so the page itself never writes.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.middleware.csrf import get_token
from django.shortcuts import render
from django.views.decorators.http import require_GET

from controlroom.roles import Capability, can
from flows import selectors
from flows.editor import gallery


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
            dict(latest.document)
            if latest
            else gallery.blank_document(slug=flow.slug, name=flow.name)
        ),
    )
    context = {"nav": "flows", "flow": flow, "boot": boot, "can_edit": boot["can_edit"]}
    return render(request, "editor/editor.html", context)


@login_required
@require_GET
def flow_new(request: HttpRequest) -> HttpResponse:
    """The templates gallery; with ``template`` (and optionally ``name`` and ``slug``), the
    editor on an unsaved copy of that template (``gallery.template_start``: nothing
    exists until the designer saves it). A choice that cannot start a flow shows the gallery
    again with the reason, answered 400 (or 409 for a slug already taken)."""
    if not can(request.user, Capability.DESIGN):
        raise PermissionDenied("your role may not design flows")
    chosen = request.GET.get("template", "")
    name = request.GET.get("name", "").strip()
    slug = request.GET.get("slug", "").strip()
    error, status = "", 200
    if "template" in request.GET:
        try:
            document = gallery.template_start(template=chosen, name=name, slug=slug)
        except gallery.GalleryError as exc:
            error, status = exc.message, exc.status
        else:
            boot = _boot(
                request,
                slug=document["slug"],
                name=document["name"],
                version=None,
                live_version=None,
                is_new=True,
                document=document,
            )
            context: dict[str, Any] = {"nav": "flows", "flow": None, "boot": boot}
            return render(request, "editor/editor.html", {**context, "can_edit": True})
    templates = gallery.templates()
    context = {
        "nav": "flows",
        "cards": gallery.template_cards(templates.values()),
        "chosen": chosen or gallery.BLANK,
        "name": name,
        "slug": slug,
        "error": error,
    }
    return render(request, "editor/gallery.html", context, status=status)
