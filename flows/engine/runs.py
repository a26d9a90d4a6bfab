"""Starting, cancelling and retrying runs: the engine's public entry points (with
``RunError`` and ``prepare_input`` from ``flows.engine.inputs``)."""

from __future__ import annotations

import functools
from typing import Any

from django.db import IntegrityError, transaction

from controlroom import batch
from flows.engine import claims, transitions
from flows.engine.inputs import RunError, prepare_input
from flows.engine.scheduler import (
    Advance,
    cancel_active,
    publish_deferred,
    run_finished_after_commit,
    subflow_done,
)
from flows.models import Flow, FlowVersion, Run
from flows.states import RUN_TERMINAL, RunStatus

__all__ = ["RunError", "prepare_input", "run_cancel", "run_retry", "run_start"]


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
    unpublished (``enqueued_at`` NULL) for ``flows.triggers.dispatch`` to hand over in a batch
    (``flows.engine.publish.publish_deferred``).
    """
    if version is None and flow.live_version_id is not None:
        version = claims.version_get(flow.live_version_id)  # immutable: cached per process
    version = version or flow.versions.order_by("-number").first()
    if version is None:
        raise RunError(f"flow {flow.slug!r} has no version to run", code="no_version")
    data, subject = prepare_input(version, input)
    dropped = sorted(set(input) - set(data)) if isinstance(input, dict) else []
    # A repeated idempotency key is found by the insert itself (the unique constraint): the
    # transaction rolls back and the original run is returned. One short transaction, its
    # history rows sent together (``controlroom.batch``).
    try:
        with transaction.atomic(), batch.batched():
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
                with publish_deferred():  # entry steps born unpublished (enqueued_at NULL)
                    advance.start()
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
            subflow_done(run)
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
