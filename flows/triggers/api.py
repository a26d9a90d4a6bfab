"""The triggers router: outcomes (the Feedback a flow's ROI counts), webhook endpoints and their
secrets, every flow's trigger, schedule previews. Thin adapters over ``flows.triggers`` (its
domain modules, ``outcomes`` and ``selectors``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from ninja import Router, Schema, Status
from ninja.errors import HttpError
from pydantic import Field
from pydantic import ValidationError as PydanticValidationError

from controlroom.api import ERRORS, ErrorOut, error_response, requires
from controlroom.pagination import BadCursor, page
from controlroom.roles import Capability
from flows.models import Flow
from flows.triggers import config, outcomes, selectors, webhooks
from flows.triggers.cron_text import cron_describe

router = Router(tags=["outcomes"], auth=requires(Capability.VIEW))


class OutcomeIn(Schema):
    subject: str = Field(min_length=1, max_length=300)
    metric: str = Field(min_length=1, max_length=100)
    value: float | int | str = 1
    run_id: str | None = None
    flow: str | None = None
    occurred_at: datetime | None = None


class OutcomeOut(Schema):
    id: int
    subject: str
    metric: str
    value: str = Field(description="a decimal number, as text")
    run_id: str | None
    flow: str | None
    occurred_at: str
    source: str
    created_at: str


class OutcomeRecordedOut(OutcomeOut):
    created: bool


class OutcomeListOut(Schema):
    items: list[OutcomeOut]
    next_cursor: str | None = None


def _idempotency_key(request: HttpRequest) -> str | None:
    key = request.headers.get("Idempotency-Key")
    if key is not None and not (0 < len(key) <= 150):
        raise HttpError(400, "Idempotency-Key must be 1 to 150 characters")
    return f"api:{key}" if key else None


@router.post(
    "/outcomes",
    response={201: OutcomeRecordedOut, 200: OutcomeRecordedOut, **ERRORS},
    summary="Record a business outcome for a subject; it attaches to that subject's run",
    auth=requires(Capability.OPERATE),
)
def outcome_create(request: HttpRequest, payload: OutcomeIn) -> Any:
    value: Any = payload.value
    if isinstance(value, float):
        # Decimal from the JSON text the float came from, not from binary floating point.
        value = repr(value)
    try:
        recorded = outcomes.outcome_record(
            subject=payload.subject,
            metric=payload.metric,
            value=value,
            run_id=payload.run_id,
            flow_slug=payload.flow,
            occurred_at=payload.occurred_at,
            event_key=_idempotency_key(request),
        )
    except outcomes.OutcomeError as exc:
        return _outcome_error(request, exc)
    body = {**outcomes.outcome_dict(recorded.outcome), "created": recorded.created}
    return Status(201 if recorded.created else 200, body)


def _outcome_error(request: HttpRequest, exc: outcomes.OutcomeError) -> HttpResponse:
    return error_response(request, exc.status, exc.code, exc.message, exc.details)


@router.get("/outcomes", response={200: OutcomeListOut, **ERRORS})
def outcome_list(
    request: HttpRequest,
    subject: str | None = None,
    metric: str | None = None,
    flow: str | None = None,
    run_id: str | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> dict[str, Any]:
    flow_obj = None
    if flow:
        flow_obj = Flow.objects.filter(slug=flow).first()
        if flow_obj is None:
            raise HttpError(404, f"no flow {flow!r}")
    run_uuid = None
    if run_id:
        import uuid

        try:
            run_uuid = uuid.UUID(run_id)
        except ValueError:
            raise HttpError(400, "run_id is not a run id") from None
    found = outcomes.outcome_list(subject=subject, metric=metric, flow=flow_obj, run_id=run_uuid)
    try:
        rows, next_cursor = page(found, cursor=cursor, limit=max(1, min(limit, 200)))
    except BadCursor as exc:
        raise HttpError(400, str(exc)) from exc
    return {"items": [outcomes.outcome_dict(o) for o in rows], "next_cursor": next_cursor}


# --- webhooks --------------------------------------------------------------------------------
hooks = Router(tags=["webhooks"], auth=None)


class WebhookAcceptedOut(Schema):
    run_id: str
    created: bool


class OutcomeAcceptedOut(Schema):
    outcome_id: int
    created: bool


class SecretIssueIn(Schema):
    overlap_seconds: int = Field(default=86_400, ge=0, le=30 * 86_400)


class SecretIssuedOut(Schema):
    name: str
    number: int
    secret: str = Field(description="shown once; store it in the sending system")
    url: str
    previous_valid_until: datetime | None


HOOK_ERRORS: dict[int, Any] = {s: ErrorOut for s in (400, 401, 404, 405, 409, 413, 415, 422)}
SIGNED_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": {"type": "object"}}},
    },
    "parameters": [
        {
            "in": "header",
            "name": "X-Controlroom-Signature",
            "required": True,
            "schema": {"type": "string"},
            "description": 't=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">',
        },
        {
            "in": "header",
            "name": "X-Event-Id",
            "required": False,
            "schema": {"type": "string"},
            "description": "deduplicates a sender's retries; not signed, so a replay of the "
            "same signed t and body is a repeat whatever id it carries",
        },
    ],
}


def _inbound(request: HttpRequest) -> webhooks.Inbound:
    raw_length = request.META.get("CONTENT_LENGTH") or ""
    length = int(raw_length) if raw_length.isdigit() else None
    return webhooks.Inbound(
        headers=request.headers,
        content_type=request.content_type or "",
        content_length=length,
        read=request.read,
    )


def _hook_error(request: HttpRequest, exc: webhooks.WebhookError) -> HttpResponse:
    return error_response(request, exc.status, exc.code, exc.message)


@hooks.post(
    "/hooks/flows/{slug}",
    response={202: WebhookAcceptedOut, **HOOK_ERRORS},
    openapi_extra=SIGNED_BODY,
    summary="Start a run of a flow with a webhook trigger (signed; repeats return the first run)",
)
def hook_flow(request: HttpRequest, slug: str) -> Any:
    flow = Flow.objects.select_related("live_version").filter(slug=slug).first()
    if flow is None:
        return error_response(request, 404, "not_found", f"no flow {slug!r}")
    try:
        run, created = webhooks.webhook_run_start(flow=flow, inbound=_inbound(request))
    except webhooks.WebhookError as exc:
        return _hook_error(request, exc)
    return Status(202, {"run_id": str(run.id), "created": created})


@hooks.post(
    "/hooks/outcomes",
    response={202: OutcomeAcceptedOut, **HOOK_ERRORS},
    openapi_extra=SIGNED_BODY,
    summary="Record an outcome, for systems that can only send signed webhooks",
)
def hook_outcome(request: HttpRequest) -> Any:
    try:
        body, key = webhooks.webhook_outcome_body(inbound=_inbound(request))
        payload = OutcomeIn.model_validate(body)
        recorded = outcomes.outcome_record(
            subject=payload.subject,
            metric=payload.metric,
            value=repr(payload.value) if isinstance(payload.value, float) else payload.value,
            run_id=payload.run_id,
            flow_slug=payload.flow,
            occurred_at=payload.occurred_at,
            source="webhook",
            event_key=key,
        )
    except webhooks.WebhookError as exc:
        return _hook_error(request, exc)
    except PydanticValidationError as exc:
        details = [
            {"pointer": "/" + "/".join(str(p) for p in e["loc"]), "message": e["msg"]}
            for e in exc.errors()
        ]
        return error_response(request, 422, "invalid", "the outcome is invalid", details)
    except outcomes.OutcomeError as exc:
        return _outcome_error(request, exc)
    return Status(202, {"outcome_id": recorded.outcome.id, "created": recorded.created})


def _issued(request: HttpRequest, issued: webhooks.IssuedSecret, path: str) -> dict[str, Any]:
    return {
        "name": issued.name,
        "number": issued.number,
        "secret": issued.value,
        "url": request.build_absolute_uri(path),
        "previous_valid_until": issued.previous_valid_until,
    }


@router.post(
    "/flows/{slug}/webhook-secrets",
    response={201: SecretIssuedOut, **ERRORS},
    summary="Issue or rotate a webhook signing secret; older ones stay valid for the overlap",
    auth=requires(Capability.DESIGN),
)
def flow_webhook_secret_issue(request: HttpRequest, slug: str, payload: SecretIssueIn) -> Any:
    flow = Flow.objects.filter(slug=slug).first()
    if flow is None:
        raise HttpError(404, f"no flow {slug!r}")
    issued = webhooks.webhook_secret_issue(flow=flow, overlap_seconds=payload.overlap_seconds)
    return Status(201, _issued(request, issued, f"/api/hooks/flows/{flow.slug}"))


class SecretRevealedOut(Schema):
    name: str
    number: int
    secret: str = Field(description="the signing secret; the reveal is in the audit log")
    expires_at: datetime | None


@router.post(
    "/flows/{slug}/webhook-secrets/{number}/reveal",
    response={200: SecretRevealedOut, **ERRORS},
    summary="Show a flow's webhook signing secret again (admins and designers; audited)",
    auth=requires(Capability.DESIGN),
)
def flow_webhook_secret_reveal(request: HttpRequest, slug: str, number: int) -> Any:
    flow = Flow.objects.filter(slug=slug).first()
    if flow is None:
        raise HttpError(404, f"no flow {slug!r}")
    try:
        row, value = webhooks.webhook_secret_reveal(flow=flow, number=number)
    except webhooks.WebhookError as exc:
        return _hook_error(request, exc)
    return {"name": row.name, "number": row.number, "secret": value, "expires_at": row.expires_at}


@router.post(
    "/outcomes/webhook-secrets",
    response={201: SecretIssuedOut, **ERRORS},
    summary="Issue (or rotate to) a new signing secret of the outcomes webhook",
    auth=requires(Capability.DESIGN),
)
def outcome_webhook_secret_issue(request: HttpRequest, payload: SecretIssueIn) -> Any:
    issued = webhooks.webhook_secret_issue(flow=None, overlap_seconds=payload.overlap_seconds)
    return Status(201, _issued(request, issued, "/api/hooks/outcomes"))


# --- triggers ------------------------------------------------------------------------------------
class WebhookSecretOut(Schema):
    name: str
    number: int
    created_at: datetime
    expires_at: datetime | None


class TriggerOut(Schema):
    flow: str
    type: str
    config: dict[str, Any]
    enabled: bool
    next_due_at: datetime | None
    last_fired_at: datetime | None
    url: str | None = Field(default=None, description="where webhooks or the public form go")
    urls: dict[str, str] = Field(
        default_factory=dict,
        description="where a webhook (``webhook``) and the public form (``form``) reach this "
        "flow, whatever its trigger is now: they answer once a version with that trigger is live",
    )
    secrets: list[WebhookSecretOut] = Field(
        default_factory=list,
        description="the flow's webhook signing secrets (kept when the trigger type changes)",
    )


class TriggerListOut(Schema):
    items: list[TriggerOut]
    next_cursor: str | None = None


def _trigger_out(request: HttpRequest, flow: Flow) -> dict[str, Any]:
    state = selectors.trigger_state(flow=flow)
    paths = selectors.trigger_paths(flow=flow)
    kind = state["type"]
    return {
        **state,
        "url": request.build_absolute_uri(paths[kind]) if kind in paths else None,
        "urls": {name: request.build_absolute_uri(path) for name, path in paths.items()},
    }


@router.get(
    "/triggers",
    response={200: TriggerListOut, **ERRORS},
    summary="Every flow's trigger (the live version's): type, config, next due time, secrets",
)
def trigger_list(request: HttpRequest, type: str | None = None) -> dict[str, Any]:
    items = [_trigger_out(request, flow) for flow in selectors.trigger_flow_list()]
    if type:
        items = [item for item in items if item["type"] == type]
    return {"items": items, "next_cursor": None}


@router.get("/flows/{slug}/trigger", response={200: TriggerOut, **ERRORS})
def trigger_get(request: HttpRequest, slug: str) -> dict[str, Any]:
    flow = selectors.trigger_flow_get(slug=slug)
    if flow is None:
        raise HttpError(404, f"no flow {slug!r}")
    return _trigger_out(request, flow)


class SchedulePreviewIn(Schema):
    cron: str = Field(max_length=120, description="a 5-field cron expression")
    timezone: str = Field(default="UTC", max_length=64, description="an IANA time zone")
    count: int = Field(default=5, description=f"how many due times, 1 to {config.PREVIEW_MAX}")


class SchedulePreviewOut(Schema):
    next: list[str] = Field(description="ISO 8601 due times with the zone's UTC offset")
    timezone: str
    description: str | None = Field(description="the expression in words, when it is simple")


@router.post(
    "/triggers/schedule-preview",
    response={200: SchedulePreviewOut, **ERRORS},
    summary="The next due times of a cron expression in a time zone, as the scheduler fires them",
    auth=requires(Capability.DESIGN),
)
def schedule_preview(request: HttpRequest, payload: SchedulePreviewIn) -> Any:
    try:
        times, zone = config.schedule_preview(
            cron=payload.cron, timezone=payload.timezone, count=payload.count, now=timezone.now()
        )
    except config.ScheduleInvalid as exc:
        pointer = exc.pointer.replace("/trigger/", "/")
        details = [{"pointer": pointer, "message": exc.message}]
        return error_response(request, 400, "invalid", exc.message, details)
    return {
        "next": [moment.isoformat() for moment in times],
        "timezone": zone.key,
        "description": cron_describe(payload.cron),
    }
