"""The engine's side of tracing (``controlroom.observability.tracing``): the run's root span,
emitted when the run ends, with the spans of the steps that ran inline (control nodes never
cross the queue, so no worker recorded them; their rows hold their times).

A subflow's child run is part of its parent's trace: ``run_lineage`` (registered with the
tracing module) tells it a run's top-level ancestor, whose uuid is the trace id of the whole
family, and its parent run, whose span is the parent of the child run's span."""

from __future__ import annotations

import logging
from typing import Any

from controlroom.observability import tracing
from flows.engine.nodes import REGISTRY
from flows.models import Run, Step
from flows.states import RunStatus, StepStatus

logger = logging.getLogger(__name__)


def run_lineage(run_id: Any) -> tuple[Any, Any | None]:
    """``(top-level ancestor run id, parent run id or None)`` of a run: one indexed read per
    level of subflow nesting (the tracing module caches it: a run's lineage never changes)."""
    parent = Run.objects.filter(id=run_id).values_list("parent_step__run_id", flat=True).first()
    if parent is None:
        return run_id, None
    root, _ = run_lineage(parent)
    return root, parent


def run_lineage_register() -> None:
    """Let the tracing module place child runs in their parent's trace."""
    tracing.lineage_register(run_lineage)


def run_trace_end(*, run_id: Any) -> None:
    """Emit the finished run's span (a no-op with tracing off). Never raises: a trace is not
    worth failing the hand-off that follows a run's end."""
    if not tracing.enabled():
        return
    try:
        _emit(run_id)
    except Exception:
        logger.warning("could not record the trace of run %s", run_id, exc_info=True)


def _emit(run_id: Any) -> None:
    run = Run.objects.select_related("flow", "version").filter(id=run_id).first()
    if run is None or run.finished_at is None:
        return
    inline_types = [name for name, node_type in REGISTRY.items() if not node_type.queued]
    inline = Step.objects.filter(
        run=run,
        node_type__in=inline_types,
        reused_from__isnull=True,
        finished_at__isnull=False,
    ).order_by("id")
    children = [
        tracing.PastSpan(
            name=f"step {step.node_id}",
            # Born finished (an end, a skip) has no start of its own: its creation is it.
            start=step.started_at or step.created_at,
            end=step.finished_at,
            attributes={
                "controlroom.run_id": str(run.id),
                "controlroom.step_id": step.id,
                "controlroom.node_id": step.node_id,
                "controlroom.node_type": step.node_type,
                "controlroom.step_status": step.status,
            },
            failed=step.status == StepStatus.FAILED,
        )
        for step in inline
        if step.finished_at is not None
    ]
    tracing.run_span(
        run_id=run.id,
        name=f"run {run.flow.slug}",
        start=run.created_at,
        end=run.finished_at,
        attributes={
            "controlroom.run_id": str(run.id),
            "controlroom.flow": run.flow.slug,
            "controlroom.flow_version": run.version.number,
            "controlroom.run_status": run.status,
            "controlroom.tokens_in": run.tokens_in,
            "controlroom.tokens_out": run.tokens_out,
            "controlroom.cost": float(run.cost),
        },
        failed=run.status == RunStatus.FAILED,
        children=children,
    )
