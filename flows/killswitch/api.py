"""The kill switch over the API: pause/resume one flow, read and throw the global switch.
Thin adapters over ``flows.killswitch.pause`` (both actions are audited there) and its
selectors."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Router, Schema
from ninja.errors import HttpError, ValidationError
from pydantic import Field
from pydantic import ValidationError as PydanticValidationError

from controlroom import jsondata
from controlroom.api import ERRORS, requires
from controlroom.roles import Capability, Role
from flows.killswitch import pause, selectors
from flows.models import Flow

router = Router(
    tags=["kill switch"],
    auth=requires(Capability.VIEW, refusal="your role may not view the control room"),
)
OPERATE_FLOWS = requires(Capability.OPERATE, refusal="your role may not operate flows")


class PauseIn(Schema):
    reason: str = Field(default="", max_length=pause.MAX_REASON_CHARS)


class FlowSwitchOut(Schema):
    slug: str
    paused: bool = Field(description="the flow's own switch")
    globally_paused: bool = Field(description="everything is paused (the global switch)")
    runs: int = Field(description="runs paused or resumed by this call")
    reason: str = ""


class KillSwitchIn(Schema):
    active: bool
    reason: str = Field(default="", max_length=pause.MAX_REASON_CHARS)


class KillSwitchOut(Schema):
    active: bool
    reason: str
    changed_by: str
    changed_at: str | None
    paused_flows: list[str] = Field(description="flows paused on their own switch")
    runs: int = Field(default=0, description="runs paused or resumed by this call")


def _flow(slug: str) -> Flow:
    flow = Flow.objects.filter(slug=slug).first()
    if flow is None:
        raise HttpError(404, f"no flow {slug!r}")
    return flow


def _flow_out(flow: Flow, runs: int) -> dict[str, Any]:
    own = selectors.state(flow=flow)
    return {
        "slug": flow.slug,
        "paused": own.active,
        "globally_paused": selectors.state().active,
        "runs": runs,
        "reason": own.reason,
    }


def _pause_reason(request: HttpRequest) -> str:
    """The optional body ``{"reason": "..."}``: a pause needs no body at all."""
    if not request.body:
        return ""
    try:
        data = jsondata.json_parse(request.body)
    except ValueError as exc:
        raise HttpError(400, f"the request body is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise HttpError(400, "the request body must be a JSON object")
    try:
        return PauseIn.model_validate(data).reason
    except PydanticValidationError as exc:
        raise ValidationError(
            [{"loc": ["body", *error["loc"]], "msg": error["msg"]} for error in exc.errors()]
        ) from None


@router.post(
    "/flows/{slug}/pause",
    response={200: FlowSwitchOut, **ERRORS},
    summary="Pause a flow: nothing more is claimed, in-flight results are held",
    openapi_extra={
        "requestBody": {
            "required": False,
            "content": {"application/json": {"schema": PauseIn.model_json_schema()}},
        }
    },
    auth=OPERATE_FLOWS,
)
def flow_pause(request: HttpRequest, slug: str) -> Any:
    flow = _flow(slug)
    reason = _pause_reason(request)
    return _flow_out(flow, pause.flow_pause(flow=flow, user=request.user, reason=reason))


@router.post(
    "/flows/{slug}/resume",
    response={200: FlowSwitchOut, **ERRORS},
    summary="Resume a paused flow where it stopped",
    auth=OPERATE_FLOWS,
)
def flow_resume(request: HttpRequest, slug: str) -> Any:
    flow = _flow(slug)
    return _flow_out(flow, pause.flow_resume(flow=flow, user=request.user))


def _switch_out(runs: int = 0) -> dict[str, Any]:
    current = selectors.state()
    return {
        "active": current.active,
        "reason": current.reason,
        "changed_by": current.changed_by,
        "changed_at": current.changed_at.isoformat() if current.changed_at else None,
        "paused_flows": selectors.paused_flow_slugs(),
        "runs": runs,
    }


@router.get("/kill-switch", response={200: KillSwitchOut, **ERRORS}, summary="The global switch")
def kill_switch_get(request: HttpRequest) -> Any:
    return _switch_out()


@router.post(
    "/kill-switch",
    response={200: KillSwitchOut, **ERRORS},
    summary="Pause (active: true) or resume (active: false) everything; admins only",
    auth=requires(Role.ADMIN, refusal="only an admin may pause or resume everything"),
)
def kill_switch_set(request: HttpRequest, payload: KillSwitchIn) -> Any:
    if payload.active:
        runs = pause.global_pause(user=request.user, reason=payload.reason)
    else:
        runs = pause.global_resume(user=request.user)
    return _switch_out(runs)
