"""Saving flow documents as immutable versions, publishing, exporting."""

from __future__ import annotations

import copy
from typing import Any

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from agents import tools
from agents.audit import audit_record
from agents.models import Agent
from agents.runtime import agent_spec_from_model
from flows.document import InvalidDocument, Problem, document_problems
from flows.guardrails.document import policy_slug_clashes
from flows.launch import NotLaunchable, launch_check
from flows.models import Flow, FlowVersion
from flows.triggers.schedules import trigger_sync


def _known_agents() -> set[str]:
    return set(Agent.objects.filter(archived=False).values_list("slug", flat=True))


def document_check(document: Any) -> None:
    """Raise ``InvalidDocument`` with every problem of ``document``."""
    problems = document_problems(
        document, known_agents=_known_agents(), known_tools=set(tools.registry())
    )
    if not problems:
        problems = [Problem(p, m) for p, m in policy_slug_clashes(document.get("policies"))]
    if problems:
        raise InvalidDocument(problems)


def freeze_agents(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The agents a document uses, as they are now: inline definitions win over the table."""
    used = {
        (node.get("config") or {}).get("agent")
        for node in document["nodes"]
        if node["type"] == "agent"
    }
    frozen = {
        agent.slug: agent_spec_from_model(agent)
        for agent in Agent.objects.filter(slug__in=used, archived=False)
    }
    for inline in document.get("agents", []):
        spec = {"provider": "scripted", "model": "scripted-1", "output": "text", **inline}
        frozen[inline["slug"]] = spec
    return frozen


def flow_save(*, document: Any, user: Any = None) -> tuple[Flow, FlowVersion]:
    """Validate ``document`` and store it as the next version of its flow (created if new)."""
    document_check(document)
    document = copy.deepcopy(document)
    with transaction.atomic():
        flow, _ = Flow.objects.select_for_update().get_or_create(
            slug=document["slug"],
            defaults={"name": document["name"], "owner": user if _real(user) else None},
        )
        flow.name = document["name"]
        flow.description = document.get("description", "")
        flow.save(update_fields=["name", "description", "updated_at"])
        number = (flow.versions.aggregate(top=Max("number"))["top"] or 0) + 1
        version = FlowVersion.objects.create(
            flow=flow,
            number=number,
            document=document,
            frozen_agents=freeze_agents(document),
            created_by=user if _real(user) else None,
        )
        audit_record(
            kind="config",
            action="flow.saved",
            actor=user if _real(user) else None,
            subject=flow.slug,
            flow_slug=flow.slug,
            data={"version": number},
        )
    return flow, version


def flow_version_publish(*, flow: Flow, version: FlowVersion) -> FlowVersion:
    """Make ``version`` the live one: new runs use it; running ones keep theirs.

    Raises ``NotLaunchable`` (nothing changes) unless the version's document passes the
    Trigger -> Action -> Feedback -> ROI launch checklist."""
    launch_check(version.document)
    with transaction.atomic():
        before = Flow.objects.filter(id=flow.id).values_list("live_version__number", flat=True)
        previous = before.first()
        FlowVersion.objects.filter(id=version.id).update(published_at=timezone.now())
        Flow.objects.filter(id=flow.id).update(live_version=version)
        # Publishing an older version than the live one is a rollback.
        rollback = previous is not None and version.number < previous
        audit_record(
            kind="config",
            action="flow.rolled_back" if rollback else "flow.published",
            subject=flow.slug,
            flow_slug=flow.slug,
            data={"version": version.number, "previous": previous},
        )
        # The live version's trigger block decides how runs start (schedules, webhooks...).
        trigger_sync(flow=flow, version=version)
    flow.live_version = version
    return version


def flow_export(*, version: FlowVersion) -> dict[str, Any]:
    """The document exactly as saved (equal as data to what was imported)."""
    return copy.deepcopy(version.document)


def _real(user: Any) -> bool:
    return bool(user is not None and getattr(user, "is_authenticated", False))


__all__ = [
    "InvalidDocument",
    "NotLaunchable",
    "document_check",
    "flow_export",
    "flow_save",
    "flow_version_publish",
]
