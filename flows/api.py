"""The flows router: flows, runs, node types, expression previews. Thin adapters over domain
functions. (Approvals have their own router: ``flows.approvals.api``.)"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import yaml
from django.http import HttpRequest, HttpResponse
from ninja import Router, Status
from ninja.errors import HttpError

from controlroom import expressions
from controlroom.api import ERRORS, ErrorOut, error_response, requires
from controlroom.moments import MomentError, utc_moment
from controlroom.pagination import BadCursor, page
from controlroom.roles import Capability
from flows import selectors
from flows.document import InvalidDocument, document_parse
from flows.engine import nodes, runs
from flows.launch import NotLaunchable, launch_checklist
from flows.schemas import (
    DocumentDiffOut,
    FlowListOut,
    FlowOut,
    FlowSavedOut,
    PreviewIn,
    PreviewOut,
    PublishIn,
    RunAcceptedOut,
    RunListOut,
    RunOut,
    RunStartIn,
    ValidationOut,
)
from flows.states import ErrorClass, RunStatus
from flows.versions import (
    FlowExists,
    document_check,
    flow_export,
    flow_save,
    flow_version_diff,
    flow_version_publish,
)

router = Router(tags=["flows"], auth=requires(Capability.VIEW))
DOCUMENT_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {"type": "object", "description": "controlroom.flow/v1"}
            },
            "application/yaml": {"schema": {"type": "string"}},
        },
    }
}


def _invalid(request: HttpRequest, exc: InvalidDocument) -> HttpResponse:
    details = [p.as_dict() for p in exc.problems]
    return error_response(request, 400, "invalid_document", exc.message, details)


def _flow_out(flow: Any) -> dict[str, Any]:
    numbers = list(flow.versions.order_by("number").values_list("number", flat=True))
    return {
        "slug": flow.slug,
        "name": flow.name,
        "description": flow.description,
        "demo": flow.demo,
        "live_version": flow.live_version.number if flow.live_version else None,
        "versions": numbers,
        "latest_version": numbers[-1] if numbers else None,
    }


def _flow_or_404(slug: str) -> Any:
    flow = selectors.flow_get(slug=slug)
    if flow is None:
        raise HttpError(404, f"no flow {slug!r}")
    return flow


def _parse_body(request: HttpRequest) -> dict[str, Any]:
    return document_parse(request.body, content_type=request.content_type or "application/json")


# --- flows ------------------------------------------------------------------------------------
@router.get(
    "/node-types",
    response={200: list[dict[str, Any]], **ERRORS},
    summary="Every node type and its config schema",
)
def node_types(request: HttpRequest) -> list[dict[str, Any]]:
    return nodes.describe_all()


@router.get("/flows", response={200: FlowListOut, **ERRORS})
def flow_list(request: HttpRequest) -> dict[str, Any]:
    return {"items": [_flow_out(flow) for flow in selectors.flow_list()], "next_cursor": None}


@router.post(
    "/flows",
    response={201: FlowSavedOut, **ERRORS, 412: ErrorOut},
    openapi_extra=DOCUMENT_BODY,
    summary="Save a flow document as a new version (creates the flow if new); with "
    "`If-None-Match: *` only create it (412 when the slug is taken)",
    auth=requires(Capability.DESIGN),
)
def flow_create(request: HttpRequest) -> Any:
    create_only = request.headers.get("If-None-Match", "").strip() == "*"
    try:
        flow, version = flow_save(
            document=_parse_body(request), user=request.user, create_only=create_only
        )
    except InvalidDocument as exc:
        return _invalid(request, exc)
    except FlowExists as exc:
        return error_response(
            request, 412, "exists", str(exc), [{"pointer": "/slug", "message": str(exc)}]
        )
    return Status(
        201,
        {
            "slug": flow.slug,
            "version": version.number,
            "live_version": flow.live_version.number if flow.live_version else None,
        },
    )


@router.post(
    "/flows/validate",
    response={200: ValidationOut, **ERRORS},
    openapi_extra=DOCUMENT_BODY,
    summary="Check a flow document without saving it; ``launch``: the launch checklist",
)
def flow_validate(request: HttpRequest) -> dict[str, Any]:
    try:
        document = _parse_body(request)
    except InvalidDocument as exc:
        return {"valid": False, "errors": [p.as_dict() for p in exc.problems]}
    launch = [item.as_dict() for item in launch_checklist(document)]
    try:
        document_check(document)
    except InvalidDocument as exc:
        return {"valid": False, "errors": [p.as_dict() for p in exc.problems], "launch": launch}
    return {"valid": True, "errors": [], "launch": launch}


@router.post(
    "/flows/parse",
    response={200: dict[str, Any], **ERRORS},
    openapi_extra=DOCUMENT_BODY,
    summary="Read a JSON or YAML document as the editor's import does (not validated, not "
    "saved); syntax errors name the line and column",
)
def flow_parse(request: HttpRequest) -> Any:
    try:
        return _parse_body(request)
    except InvalidDocument as exc:
        return _invalid(request, exc)


@router.get("/flows/{slug}", response={200: FlowOut, **ERRORS})
def flow_get(request: HttpRequest, slug: str) -> dict[str, Any]:
    return _flow_out(_flow_or_404(slug))


@router.get(
    "/flows/{slug}/export",
    response={200: dict[str, Any], **ERRORS},
    summary="The flow document (live version, or ?version=N), as JSON or ?format=yaml",
)
def flow_export_view(
    request: HttpRequest, slug: str, version: int | None = None, format: str = "json"
) -> Any:
    flow = _flow_or_404(slug)
    chosen = _version(flow, version)
    document = flow_export(version=chosen)
    if format == "yaml":
        return HttpResponse(
            yaml.safe_dump(document, sort_keys=False, allow_unicode=True),
            content_type="application/yaml",
        )
    if format != "json":
        raise HttpError(400, "format must be json or yaml")
    return document


@router.get(
    "/flows/{slug}/diff",
    response={200: DocumentDiffOut, **ERRORS},
    summary="What changed from version ?base=N to version ?version=M (default: the live one), "
    "section by section: nodes, edges, agents, trigger, policies, feedback, roi, subject, name…",
)
def flow_diff(request: HttpRequest, slug: str, base: int, version: int | None = None) -> Any:
    flow = _flow_or_404(slug)
    chosen = _version(flow, version)
    return flow_version_diff(base=_version(flow, base), document=chosen.document)


@router.post(
    "/flows/{slug}/diff",
    response={200: DocumentDiffOut, **ERRORS},
    openapi_extra=DOCUMENT_BODY,
    summary="What changed from version ?base=N to the document in the body (a draft, not saved)",
)
def flow_diff_draft(request: HttpRequest, slug: str, base: int) -> Any:
    chosen = _version(_flow_or_404(slug), base)
    try:
        document = _parse_body(request)
    except InvalidDocument as exc:
        return _invalid(request, exc)
    return flow_version_diff(base=chosen, document=document)


@router.get(
    "/flows/{slug}/load",
    response={200: dict[str, Any], **ERRORS},
    summary="Where unfinished runs are now, by node (live version, or ?version=N)",
)
def flow_load(request: HttpRequest, slug: str, version: int | None = None) -> Any:
    return selectors.node_load(version=_version(_flow_or_404(slug), version))


def _version(flow: Any, number: int | None) -> Any:
    versions = flow.versions
    chosen = (
        versions.filter(number=number).first()
        if number is not None
        else flow.live_version or versions.order_by("-number").first()
    )
    if chosen is None:
        raise HttpError(404, f"flow {flow.slug!r} has no version {number or ''}".strip())
    return chosen


@router.post(
    "/flows/{slug}/publish",
    response={200: FlowSavedOut, **ERRORS},
    summary="Make a version live; 409 not_launchable lists what the launch checklist misses",
    auth=requires(Capability.DESIGN),
)
def flow_publish(request: HttpRequest, slug: str, payload: PublishIn) -> Any:
    flow = _flow_or_404(slug)
    version = _version(flow, payload.version)
    try:
        flow_version_publish(flow=flow, version=version)
    except NotLaunchable as exc:
        return error_response(request, 409, "not_launchable", exc.message, exc.details)
    return {"slug": flow.slug, "version": version.number, "live_version": version.number}


# --- runs -----------------------------------------------------------------------------------------
@router.post(
    "/flows/{slug}/runs",
    response={202: RunAcceptedOut, 200: RunAcceptedOut, **ERRORS},
    summary="Start a run (Idempotency-Key header: a repeat returns the first run)",
    auth=requires(Capability.OPERATE),
)
def run_create(request: HttpRequest, slug: str, payload: RunStartIn) -> Any:
    flow = _flow_or_404(slug)
    version = _version(flow, payload.version) if payload.version else None
    key = request.headers.get("Idempotency-Key")
    if key is not None and not (0 < len(key) <= 200):
        raise HttpError(400, "Idempotency-Key must be 1 to 200 characters")
    try:
        run, created = runs.run_start(
            flow=flow, input=payload.input, version=version, user=request.user, idempotency_key=key
        )
    except runs.RunError as exc:
        return error_response(request, 400, exc.code, exc.message, exc.details)
    body = {"run_id": str(run.id), "status": run.status, "created": created}
    return Status(202 if created else 200, body)


def _run_id(run_id: str) -> uuid.UUID:
    try:
        return uuid.UUID(run_id)
    except ValueError:
        raise HttpError(404, "no such run") from None


@router.get("/runs", response={200: RunListOut, **ERRORS})
def run_list(
    request: HttpRequest,
    flow: str | None = None,
    status: str | None = None,
    error_class: str | None = None,
    subject: str | None = None,
    version: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> dict[str, Any]:
    """Runs, newest first. Filters: ``flow`` (slug), ``status``, ``error_class`` (why a failed
    run failed: ``domain``, ``transient``, ``crash``, ``rejected``), ``subject`` (exact),
    ``version`` (number, needs ``flow``), ``since`` / ``until`` (ISO 8601, on creation time)."""
    if status and status not in {s.value for s in RunStatus}:
        raise HttpError(400, f"unknown status {status!r}")
    if error_class and error_class not in {c.value for c in ErrorClass}:
        known = ", ".join(c.value for c in ErrorClass)
        raise HttpError(400, f"unknown error_class {error_class!r} (one of: {known})")
    if version is not None and not flow:
        raise HttpError(400, "filtering by version needs a flow")
    try:
        since, until = (None if m is None else utc_moment(m) for m in (since, until))
    except MomentError as exc:
        raise HttpError(400, f"since/until {exc}") from None
    flow_obj = _flow_or_404(flow) if flow else None
    try:
        rows, next_cursor = page(
            selectors.run_list(
                flow=flow_obj,
                status=status,
                error_class=error_class,
                subject=subject,
                version=version,
                since=since,
                until=until,
            ),
            cursor=cursor,
            limit=max(1, min(limit, 200)),
        )
    except BadCursor as exc:
        raise HttpError(400, str(exc)) from exc
    return {"items": [selectors.run_dict(run) for run in rows], "next_cursor": next_cursor}


@router.get("/runs/{run_id}", response={200: RunOut, **ERRORS})
def run_get(request: HttpRequest, run_id: str) -> dict[str, Any]:
    run = selectors.run_get(run_id=_run_id(run_id))
    if run is None:
        raise HttpError(404, "no such run")
    return selectors.run_dict(run, with_steps=True)


@router.post(
    "/runs/{run_id}/cancel",
    response={200: RunAcceptedOut, **ERRORS},
    auth=requires(Capability.OPERATE),
)
def run_cancel(request: HttpRequest, run_id: str) -> Any:
    if selectors.run_get(run_id=_run_id(run_id)) is None:
        raise HttpError(404, "no such run")
    try:
        run = runs.run_cancel(run_id=_run_id(run_id), reason=f"cancelled by {request.user}")
    except runs.RunError as exc:
        return error_response(request, 409, exc.code, exc.message)
    return {"run_id": str(run.id), "status": run.status, "created": False}


@router.post(
    "/runs/{run_id}/retry",
    response={202: RunAcceptedOut, **ERRORS},
    summary="Retry a failed run: a new run that reuses the outputs that succeeded",
    auth=requires(Capability.OPERATE),
)
def run_retry(request: HttpRequest, run_id: str) -> Any:
    if selectors.run_get(run_id=_run_id(run_id)) is None:
        raise HttpError(404, "no such run")
    try:
        run = runs.run_retry(run_id=_run_id(run_id), user=request.user)
    except runs.RunError as exc:
        return error_response(request, 409, exc.code, exc.message)
    return Status(202, {"run_id": str(run.id), "status": run.status, "created": True})


@router.post(
    "/expressions/preview",
    response={200: PreviewOut, **ERRORS},
    summary="Render a template or evaluate a condition against sample input",
)
def expression_preview(request: HttpRequest, payload: PreviewIn) -> Any:
    """The same sandboxed engine the runs use, over ``input`` and ``steps.<id>.output``; an
    expression that fails answers 400 with the engine's message (pointer ``/text``)."""
    steps = {node: {"output": out, "status": "succeeded"} for node, out in payload.steps.items()}
    context = {"input": payload.input, "steps": steps}
    try:
        if payload.kind == "condition":
            value: Any = expressions.evaluate(payload.text, context)
        else:
            value = expressions.render(payload.text, context)
    except expressions.ExpressionError as exc:
        details = [{"pointer": "/text", "message": str(exc)}]
        return error_response(request, 400, "invalid_expression", str(exc), details)
    return {"value": value}
