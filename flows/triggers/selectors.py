"""Reads of triggers for the API: a flow's trigger as it stands (its row once a version with it
went live, else the latest version's block), its webhook signing secrets, and where webhooks and
the public form reach it. No writes."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from flows.models import Flow, Trigger, WebhookSecret


def trigger_paths(*, flow: Flow) -> dict[str, str]:
    """Where a webhook (``webhook``) and the public form (``form``) reach ``flow``, site-relative:
    they answer once a version with that trigger is live, whatever the trigger is now."""
    return {"webhook": f"/api/hooks/flows/{flow.slug}", "form": f"/forms/{flow.slug}/"}


def trigger_state(*, flow: Flow) -> dict[str, Any]:
    """``flow``'s trigger: ``type``, ``config``, ``enabled``, ``next_due_at`` and
    ``last_fired_at`` from its row, or, while it has none, the block of its live (else latest)
    version with a manual trigger as the default; ``secrets``: its webhook signing secrets."""
    row = Trigger.objects.filter(flow=flow).first()
    version = flow.live_version or flow.versions.order_by("-number").first()
    block = dict((version.document.get("trigger") if version else None) or {"type": "manual"})
    return {
        "flow": flow.slug,
        "type": row.kind if row else block.get("type", "manual"),
        "config": row.config if row else block,
        "enabled": row.enabled if row else True,
        "next_due_at": row.next_due_at if row else None,
        "last_fired_at": row.last_fired_at if row else None,
        "secrets": [
            {
                "name": s.name,
                "number": s.number,
                "created_at": s.created_at,
                "expires_at": s.expires_at,
            }
            for s in WebhookSecret.objects.filter(flow=flow)
        ],
    }


def trigger_flow_list() -> QuerySet[Flow]:
    """Every flow, by slug, with its live version, for the triggers list."""
    return Flow.objects.select_related("live_version").order_by("slug")


def trigger_flow_get(*, slug: str) -> Flow | None:
    return Flow.objects.select_related("live_version").filter(slug=slug).first()
