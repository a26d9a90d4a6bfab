"""Starting, cancelling and retrying runs: the engine's public entry points."""

from __future__ import annotations

import functools
from typing import Any

import jsonschema
from django.db import IntegrityError, transaction

from controlroom import expressions
from flows.engine import transitions
from flows.engine.scheduler import Advance, cancel_active, run_finished_after_commit
from flows.models import Flow, FlowVersion, Run, Step
from flows.states import RUN_TERMINAL, RunStatus, StepStatus
from flows.triggers import dispatch


class RunError(Exception):
    """A run cannot be started, cancelled or retried as asked (a 4xx for the caller)."""

    def __init__(
        self, message: str, *, code: str = "invalid", details: list[dict[str, str]] | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.details = details or []


def prepare_input(version: FlowVersion, raw: Any) -> tuple[dict[str, Any], str]:
    """Validate ``raw`` against the flow's input schema, keep only the trigger's snapshot
    fields, and render the subject. Returns ``(input, subject)``."""
    document = version.document
    if not isinstance(raw, dict):
        raise RunError("input must be a JSON object")
    schema = document.get("input_schema")
    if schema:
        errors = sorted(
            jsonschema.Draft202012Validator(schema).iter_errors(raw),
            key=lambda error: list(error.absolute_path),
        )
        if errors:
            raise RunError(
                "input does not match the flow's input schema",
                details=[
                    {
                        "pointer": "/input/" + "/".join(str(p) for p in error.absolute_path),
                        "message": error.message,
                    }
                    for error in errors[:20]
                ],
            )
    snapshot = (document.get("trigger") or {}).get("snapshot")
    data = {key: value for key, value in raw.items() if key in snapshot} if snapshot else dict(raw)
    subject = ""
    if document.get("subject"):
        try:
            subject = str(expressions.render(document["subject"], {"input": data}) or "")[:300]
        except expressions.ExpressionError as exc:
            raise RunError(f"subject template failed: {exc}") from exc
    return data, subject


def run_start(
    *,
    flow: Flow,
    input: Any,
    version: FlowVersion | None = None,
    user: Any = None,
    idempotency_key: str | None = None,
    defer_publish: bool = False,
) -> tuple[Run, bool]:
    """Create a run of ``version`` (default: the live one, else the latest) and start it.

    Returns ``(run, created)``; with an ``idempotency_key`` already used for this flow, the
    original run is returned and nothing is created. Entry steps are queued in the same
    transaction and published to the workers after commit — or, with ``defer_publish``, left
    unpublished (``enqueued_at`` NULL) for ``flows.triggers.dispatch`` to hand over in a batch.
    """
    if idempotency_key:
        existing = Run.objects.filter(flow=flow, idempotency_key=idempotency_key).first()
        if existing is not None:
            return existing, False
    version = version or flow.live_version or flow.versions.order_by("-number").first()
    if version is None:
        raise RunError(f"flow {flow.slug!r} has no version to run", code="no_version")
    data, subject = prepare_input(version, input)
    dropped = sorted(set(input) - set(data)) if isinstance(input, dict) else []
    try:
        with transaction.atomic():
            run = transitions.run_create(
                flow=flow,
                version=version,
                input=data,
                subject=subject,
                created_by=user if getattr(user, "is_authenticated", False) else None,
                idempotency_key=idempotency_key or None,
            )
            if dropped:
                transitions.run_note(run, "input.dropped", {"fields": dropped})
            advance = Advance(run)
            if defer_publish:
                with dispatch.deferred():
                    advance.start()
                Step.objects.filter(run=run, status=StepStatus.QUEUED).update(enqueued_at=None)
            else:
                advance.start()
    except IntegrityError:
        if idempotency_key:
            existing = Run.objects.filter(flow=flow, idempotency_key=idempotency_key).first()
            if existing is not None:
                return existing, False
        raise
    return run, True


def run_cancel(*, run_id: Any, reason: str = "cancelled by user") -> Run:
    """Cancel a run that has not ended. Cancelling an ended run is refused (409)."""
    with transaction.atomic():
        advance = Advance.open(run_id)
        run = advance.run
        if run.status in RUN_TERMINAL:
            if run.status == RunStatus.CANCELLED:
                return run
            raise RunError(f"run already {run.status}", code="conflict")
        cancel_active(run, reason=reason)
        transitions.run_move(run, RunStatus.CANCELLED, error=reason)
        # The same "run finished" hand-off as every other terminal move (``Advance.finish``):
        # event triggers watching for cancelled runs start after commit.
        transaction.on_commit(functools.partial(run_finished_after_commit, run.id))
        if run.parent_step_id:
            from flows.engine import waits

            waits.subflow_done(run)
    return run


def run_retry(*, run_id: Any, user: Any = None) -> Run:
    """Start a new run of the same version and input that reuses every step output the
    failed (or cancelled) run already produced; side effects keep their idempotency keys."""
    original = Run.objects.select_related("version", "flow").get(id=run_id)
    if original.status not in {RunStatus.FAILED, RunStatus.CANCELLED}:
        raise RunError(
            f"only failed or cancelled runs can be retried (this one is {original.status})",
            code="conflict",
        )
    with transaction.atomic():
        run = transitions.run_create(
            flow=original.flow,
            version=original.version,
            input=original.input,
            subject=original.subject,
            retry_of=original,
            root_run_id=original.root_run_id,
            parent_step=None,
            created_by=user if getattr(user, "is_authenticated", False) else None,
        )
        run.version = original.version
        transitions.run_note(original, "run.retried", {"retry_run_id": str(run.id)})
        Advance(run).start()
    return run
