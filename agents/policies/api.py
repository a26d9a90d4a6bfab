"""``/api/policies``: guardrail policies (list, create, change, enable/disable, delete) and the
policy simulator. Thin adapters over ``agents.policies.manage`` and
``agents.policies.simulator``, which the policy pages call too. Admins and designers write
(only admins touch global policies: ``manage.policy_authorise``); every role that may view
reads. Roles are checked before the body is parsed (``controlroom.api.requires``)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from ninja import Field, Router, Schema, Status
from ninja.errors import HttpError

from agents.models import Policy
from agents.policies import KINDS, SCHEMAS, SCOPES, VERDICTS_BY_KIND
from agents.policies import manage as policies
from agents.policies.simulator import (
    Period,
    SimulationError,
    policy_simulate,
    simulation_dict,
)
from controlroom.api import ERRORS, error_response, requires
from controlroom.pagination import BadCursor, page
from controlroom.roles import Capability

router = Router(tags=["policies"], auth=requires(Capability.VIEW))
DEFAULT_PERIOD = timedelta(days=7)


class PolicyIn(Schema):
    slug: str = Field(max_length=80)
    name: str = Field(max_length=200)
    kind: str
    scope: str | None = None
    target: str | None = Field(default=None, max_length=200)
    verdict: str | None = None
    reason: str | None = Field(default=None, max_length=500)
    config: dict[str, Any] | None = None
    enabled: bool | None = None


class PolicyPatch(Schema):
    name: str | None = Field(default=None, max_length=200)
    scope: str | None = None
    target: str | None = Field(default=None, max_length=200)
    verdict: str | None = None
    reason: str | None = Field(default=None, max_length=500)
    config: dict[str, Any] | None = None
    enabled: bool | None = None


class PolicyOut(Schema):
    slug: str
    name: str
    kind: str
    scope: str
    target: str
    verdict: str
    reason: str
    config: dict[str, Any]
    enabled: bool
    created_by: str | None
    created_at: str
    updated_at: str


class PolicyListOut(Schema):
    items: list[PolicyOut]
    next_cursor: str | None


class PeriodIn(Schema):
    since: datetime | None = None
    until: datetime | None = None
    flow: str | None = Field(default=None, max_length=80)


class SimulateIn(PeriodIn):
    """A policy as it would be saved (the slug may be left out) and the period to replay."""

    policy: dict[str, Any]


class PolicyKindOut(Schema):
    kind: str
    explanation: str
    verdicts: list[str]
    config_schema: dict[str, Any]


class SimulationOut(Schema):
    period: dict[str, Any]
    summary: dict[str, Any]
    runs: list[dict[str, Any]]


def _policy_or_404(slug: str) -> Policy:
    policy = policies.policy_get(slug=slug)
    if policy is None:
        raise HttpError(404, f"no policy {slug!r}")
    return policy


def _invalid(request: HttpRequest, exc: policies.PolicyInvalid) -> HttpResponse:
    return error_response(request, 422, "invalid", exc.message, exc.details)


def _switch(request: HttpRequest, slug: str, *, enabled: bool) -> dict[str, Any]:
    try:
        policy = policies.policy_enable(
            policy=_policy_or_404(slug), enabled=enabled, user=request.user
        )
    except policies.PolicyForbidden as exc:
        raise HttpError(403, str(exc)) from None
    return policies.policy_dict(policy)


def _enabled(value: str | None) -> bool | None:
    if value in (None, ""):
        return None
    if value not in ("true", "false"):
        raise HttpError(400, "enabled must be true or false")
    return value == "true"


@router.get("/policies", response={200: PolicyListOut, **ERRORS})
def policy_list(
    request: HttpRequest,
    kind: str | None = None,
    scope: str | None = None,
    target: str | None = None,
    enabled: str | None = None,
    q: str | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> dict[str, Any]:
    """Policies, newest first, filtered by kind, scope, target (exact), enabled, text."""
    if kind and kind not in KINDS:
        raise HttpError(400, f"unknown kind {kind!r} (one of: {', '.join(KINDS)})")
    if scope and scope not in SCOPES:
        raise HttpError(400, f"unknown scope {scope!r} (one of: {', '.join(SCOPES)})")
    if "\x00" in f"{target or ''}{q or ''}":
        raise HttpError(400, "target and q cannot contain NUL characters")
    filters = policies.PolicyFilters(
        kind=kind or "",
        scope=scope or "",
        target=target or "",
        enabled=_enabled(enabled),
        query=(q or "").strip(),
    )
    try:
        rows, next_cursor = page(
            policies.policy_list(filters), cursor=cursor, limit=max(1, min(limit, 200))
        )
    except BadCursor as exc:
        raise HttpError(400, str(exc)) from exc
    return {"items": [policies.policy_dict(p) for p in rows], "next_cursor": next_cursor}


@router.get(
    "/policy-kinds",
    response={200: list[PolicyKindOut], **ERRORS},
    summary="Every policy kind: what it does, the verdicts it may give and the JSON Schema "
    "of its config (the editor generates its policy forms from it)",
)
def policy_kinds(request: HttpRequest) -> list[dict[str, Any]]:
    return [
        {
            "kind": kind,
            "explanation": policies.EXPLANATIONS[kind],
            "verdicts": list(VERDICTS_BY_KIND[kind]),
            "config_schema": SCHEMAS[kind],
        }
        for kind in KINDS
    ]


@router.post(
    "/policies",
    response={201: PolicyOut, **ERRORS},
    summary="Create a policy",
    auth=requires(Capability.DESIGN),
)
def policy_create(request: HttpRequest, payload: PolicyIn) -> Any:
    try:
        policy = policies.policy_create(values=payload.dict(), user=request.user)
    except policies.PolicyInvalid as exc:
        return _invalid(request, exc)
    except policies.PolicyConflict as exc:
        raise HttpError(409, str(exc)) from None
    except policies.PolicyForbidden as exc:
        raise HttpError(403, str(exc)) from None
    return Status(201, policies.policy_dict(policy))


def _period(payload: PeriodIn) -> Period:
    until = payload.until or timezone.now()
    since = payload.since or until - DEFAULT_PERIOD
    return Period(since=since, until=until, flow=payload.flow or "")


def _simulate(request: HttpRequest, spec: Any, payload: PeriodIn) -> Any:
    try:
        simulation = policy_simulate(spec, period=_period(payload))
    except SimulationError as exc:
        details = [{"pointer": exc.pointer, "message": exc.message}] if exc.pointer else []
        return error_response(request, 400, "invalid", exc.message, details)
    return simulation_dict(simulation)


@router.post(
    "/policies/simulate",
    response={200: SimulationOut, **ERRORS},
    summary="Replay a policy (not saved) against the runs of a period (default: the last "
    "7 days): what it would have allowed, gated, blocked or redacted, run by run",
)
def policy_simulate_new(request: HttpRequest, payload: SimulateIn) -> Any:
    values = policies.policy_defaults({"slug": "unsaved-policy", **payload.policy})
    problems = policies.policy_check(values)
    if problems:
        details = [{"pointer": "/policy" + p, "message": m} for p, m in problems]
        return error_response(request, 422, "invalid", "the policy is invalid", details)
    return _simulate(request, policies.policy_spec(values), payload)


@router.get("/policies/{slug}", response={200: PolicyOut, **ERRORS})
def policy_get(request: HttpRequest, slug: str) -> dict[str, Any]:
    return policies.policy_dict(_policy_or_404(slug))


@router.patch(
    "/policies/{slug}", response={200: PolicyOut, **ERRORS}, auth=requires(Capability.DESIGN)
)
def policy_update(request: HttpRequest, slug: str, payload: PolicyPatch) -> Any:
    policy = _policy_or_404(slug)
    try:
        policy = policies.policy_update(
            policy=policy, changes=payload.dict(exclude_unset=True), user=request.user
        )
    except policies.PolicyInvalid as exc:
        return _invalid(request, exc)
    except policies.PolicyForbidden as exc:
        raise HttpError(403, str(exc)) from None
    return policies.policy_dict(policy)


@router.post(
    "/policies/{slug}/enable", response={200: PolicyOut, **ERRORS}, auth=requires(Capability.DESIGN)
)
def policy_enable(request: HttpRequest, slug: str) -> dict[str, Any]:
    return _switch(request, slug, enabled=True)


@router.post(
    "/policies/{slug}/disable",
    response={200: PolicyOut, **ERRORS},
    auth=requires(Capability.DESIGN),
)
def policy_disable(request: HttpRequest, slug: str) -> dict[str, Any]:
    return _switch(request, slug, enabled=False)


@router.delete("/policies/{slug}", response={204: None, **ERRORS}, auth=requires(Capability.DESIGN))
def policy_delete(request: HttpRequest, slug: str) -> Any:
    try:
        policies.policy_delete(policy=_policy_or_404(slug), user=request.user)
    except policies.PolicyForbidden as exc:
        raise HttpError(403, str(exc)) from None
    return Status(204, None)


@router.post(
    "/policies/{slug}/simulate",
    response={200: SimulationOut, **ERRORS},
    summary="Replay a saved policy against the runs of a period",
)
def policy_simulate_saved(request: HttpRequest, slug: str, payload: PeriodIn) -> Any:
    return _simulate(request, _policy_or_404(slug), payload)
