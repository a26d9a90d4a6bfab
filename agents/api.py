"""The agents router: agents, the tool registry, secrets. Thin adapters over the domain
functions the HTML pages call too (``agents.agents``, ``agents.secrets``).

Secrets are write-only here: no response, error included, ever carries a value.
"""

from __future__ import annotations

from typing import Any

from django.db.models import ProtectedError
from django.http import HttpRequest, HttpResponse
from ninja import Router, Status
from ninja.errors import HttpError

from agents import agents as agent_domain
from agents import secrets, selectors, tools
from agents.models import Agent, Secret
from agents.schemas import (
    MODEL_TO_API,
    AgentIn,
    AgentListOut,
    AgentOut,
    AgentPatch,
    SecretIn,
    SecretListOut,
    SecretOut,
    SecretPatch,
    ToolListOut,
)
from controlroom.api import ERRORS, error_response, requires
from controlroom.pagination import BadCursor, page
from controlroom.roles import Capability, Role

router = Router(tags=["agents"], auth=requires(Capability.VIEW))
ADMIN_ONLY = requires(Role.ADMIN, refusal="only admins may change secrets")
STATUSES = {"active": False, "archived": True, "all": None}


def _agent_or_404(slug: str) -> Agent:
    agent = selectors.agent_get(slug=slug)
    if agent is None:
        raise HttpError(404, f"no agent {slug!r}")
    return agent


def _invalid(request: HttpRequest, exc: agent_domain.AgentInvalid) -> HttpResponse:
    details = [
        {
            "pointer": "/" + MODEL_TO_API.get(p.field, p.field) if p.field else "",
            "message": p.message,
        }
        for p in exc.problems
    ]
    return error_response(request, 422, "invalid", "the agent is invalid", details)


# --- agents ---------------------------------------------------------------------------------------


@router.get("/agents", response={200: AgentListOut, **ERRORS})
def agent_list(
    request: HttpRequest,
    status: str = "active",
    provider: str | None = None,
    q: str | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> dict[str, Any]:
    """Agents, newest first. ``status``: active (default), archived or all."""
    if status not in STATUSES:
        raise HttpError(400, "status must be active, archived or all")
    rows = selectors.agent_list(archived=STATUSES[status], provider=provider, query=q)
    try:
        agents, next_cursor = page(rows, cursor=cursor, limit=max(1, min(limit, 200)))
    except BadCursor as exc:
        raise HttpError(400, str(exc)) from exc
    return {"items": [selectors.agent_dict(agent) for agent in agents], "next_cursor": next_cursor}


@router.get("/agents/{slug}", response={200: AgentOut, **ERRORS})
def agent_get(request: HttpRequest, slug: str) -> dict[str, Any]:
    return selectors.agent_dict(_agent_or_404(slug))


@router.post(
    "/agents",
    response={201: AgentOut, **ERRORS},
    summary="Create an agent",
    auth=requires(Capability.DESIGN),
)
def agent_create(request: HttpRequest, payload: AgentIn) -> Any:
    try:
        agent = agent_domain.agent_create(values=payload.model_values())
    except agent_domain.AgentInvalid as exc:
        return _invalid(request, exc)
    except agent_domain.AgentConflict as exc:
        raise HttpError(409, str(exc)) from None
    return Status(201, selectors.agent_dict(agent))


@router.patch(
    "/agents/{slug}",
    response={200: AgentOut, **ERRORS},
    summary="Change an agent (flow versions saved earlier keep the agent they froze)",
    auth=requires(Capability.DESIGN),
)
def agent_update(request: HttpRequest, slug: str, payload: AgentPatch) -> Any:
    agent = _agent_or_404(slug)
    try:
        agent = agent_domain.agent_update(agent=agent, changes=payload.model_values())
    except agent_domain.AgentInvalid as exc:
        return _invalid(request, exc)
    return selectors.agent_dict(agent)


@router.post(
    "/agents/{slug}/archive",
    response={200: AgentOut, **ERRORS},
    summary="Archive an agent: new flow versions cannot use it; saved ones keep working",
    auth=requires(Capability.DESIGN),
)
def agent_archive(request: HttpRequest, slug: str) -> dict[str, Any]:
    agent = agent_domain.agent_archive(agent=_agent_or_404(slug), archived=True)
    return selectors.agent_dict(agent)


@router.post(
    "/agents/{slug}/unarchive", response={200: AgentOut, **ERRORS}, auth=requires(Capability.DESIGN)
)
def agent_unarchive(request: HttpRequest, slug: str) -> dict[str, Any]:
    agent = agent_domain.agent_archive(agent=_agent_or_404(slug), archived=False)
    return selectors.agent_dict(agent)


@router.get("/tools", response={200: ToolListOut, **ERRORS}, summary="Tools agents may be allowed")
def tool_list(request: HttpRequest) -> dict[str, Any]:
    items = [tool.describe() for tool in sorted(tools.registry().values(), key=lambda t: t.name)]
    return {"items": items, "next_cursor": None}


# --- secrets --------------------------------------------------------------------------------------


@router.get(
    "/secrets", response={200: SecretListOut, **ERRORS}, summary="Secret names (never values)"
)
def secret_list(request: HttpRequest) -> dict[str, Any]:
    items = [selectors.secret_dict(secret) for secret in selectors.secret_list()]
    return {"items": items, "next_cursor": None}


@router.put(
    "/secrets/{name}",
    response={200: SecretOut, 201: SecretOut, **ERRORS},
    summary="Set a secret (write-only: the value is never returned)",
    auth=ADMIN_ONLY,
)
def secret_put(request: HttpRequest, name: str, payload: SecretIn) -> Any:
    existed = selectors.secret_get(name=name) is not None
    try:
        secrets.secret_set(
            name=name,
            value=payload.value,
            description=payload.description,
            allowed_hosts=payload.allowed_hosts,
            connections=payload.connections,
        )
    except secrets.SecretInvalid as exc:
        return error_response(request, 422, "invalid", str(exc))
    except secrets.SecretsNotConfigured as exc:
        return error_response(request, 503, "secrets_not_configured", str(exc))
    return Status(200 if existed else 201, selectors.secret_dict(_secret_or_404(name)))


@router.patch(
    "/secrets/{name}",
    response={200: SecretOut, **ERRORS},
    summary="Change where a secret may be sent, or its description (value untouched)",
    auth=ADMIN_ONLY,
)
def secret_patch(request: HttpRequest, name: str, payload: SecretPatch) -> Any:
    try:
        secrets.secret_bind(
            name=name,
            allowed_hosts=payload.allowed_hosts,
            connections=payload.connections,
            description=payload.description,
        )
    except secrets.SecretMissing:
        raise HttpError(404, f"no secret {name!r}") from None
    except secrets.SecretInvalid as exc:
        return error_response(request, 422, "invalid", str(exc))
    return selectors.secret_dict(_secret_or_404(name))


def _secret_or_404(name: str) -> Secret:
    secret = selectors.secret_get(name=name)
    if secret is None:
        raise HttpError(404, f"no secret {name!r}")
    return secret


@router.delete("/secrets/{name}", response={204: None, **ERRORS}, auth=ADMIN_ONLY)
def secret_delete(request: HttpRequest, name: str) -> Any:
    if selectors.secret_get(name=name) is None:
        raise HttpError(404, f"no secret {name!r}")
    try:
        secrets.secret_delete(name=name)
    except ProtectedError as exc:
        users = ", ".join(sorted({str(row) for row in exc.protected_objects}))
        raise HttpError(409, f"secret {name!r} is in use by {users}") from None
    return Status(204, None)
