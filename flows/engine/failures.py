"""A step that failed for good: its failure path, and billing what the failed attempt spent.

Every function runs inside the transaction of an ``Advance`` (the run row is locked), which
the caller passes in (``Advance.fail_step`` is the entry point); like ``flows.engine.waits``
this module sits below ``flows.engine.scheduler`` and does not import it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.db.models import Q

from agents.redaction import redact
from flows.engine import context, transitions
from flows.engine.edges import propagate
from flows.engine.nodes import REGISTRY
from flows.engine.nodes.base import Done, NodeType, StepError, Usage
from flows.models import Step
from flows.states import RunStatus, StepStatus

if TYPE_CHECKING:
    from flows.engine.scheduler import Advance


@dataclass
class _Spent:
    """What a failed attempt spent (``fail_step``); ``added``: in the run's totals."""

    usage: Usage
    details: dict[str, Any]
    added: bool


def fail_step(
    advance: Advance,
    step: Step,
    message: str,
    error_class: str,
    *,
    attempt: int | None = None,
    recoverable: bool = True,
    usage: Usage | None = None,
    details: dict[str, Any] | None = None,
    usage_added: bool = False,
) -> bool:
    """``step`` failed for good (its retries, if any, are used up): follow the node's
    failure path. With ``attempt``, only while the step still runs at that attempt; False
    (nothing changed) when it does not.

    What the failed attempt spent (``usage``: an agent's model calls before it failed, a
    failed child run's totals) is billed as a success's is, whichever path follows: the
    step keeps it (model, tokens, cost, and ``details`` such as an agent's ``routing``
    merged into its input), so ROI and the metrics bill it per model when the step ends
    (``flows.roi.facts``), and the run's totals get it here, in this transaction — unless
    ``usage_added`` (the caller's ``open(usage=…)`` already added it).

    The failure path, in order (the document's ``on_error`` and ``"on": "error"`` edges):

    - ``on_error: continue`` — the step *succeeds* with output ``{"error": {"class",
      "message"}}`` and the flow goes on along its normal edges by the default rule (no
      condition, or a condition that holds with that output). A condition that cannot be
      evaluated fails the step for good after all.
    - error edges — the step is recorded ``failed`` (with the error edges in ``taken``),
      its error edges are taken and its normal edges are not (dead paths downstream, as
      for a route not chosen); ``steps.<id>.error`` is ``{"class", "message"}`` for the
      nodes after it. The run does not fail because of this step: it ends as its other
      paths decide.
    - otherwise — the step fails and so does the run, with the step's error class.

    Not ``recoverable`` (a limit policy refused the activation): always the last."""
    message = redact(message)  # stored errors never carry a secret (agents.redaction)
    where = None if attempt is None else Q(attempt=attempt)
    spent = _Spent(usage or Usage(), details or {}, usage_added)
    if recoverable and advance.graph.on_error(step.node_id) == "continue":
        return _continue(advance, step, context.error_dict(error_class, message), attempt, spent)
    routes = [e.index for e in advance.graph.error_edges.get(step.node_id, [])]
    if recoverable and routes and step.node_id not in advance.graph.map_body:
        moved = transitions.step_move(
            step,
            StepStatus.FAILED,
            where=where,
            error=message,
            error_class=error_class,
            taken=routes,
            **_spent_fields(advance, step, spent),
        )
        if not moved:
            return False
        if advance._outputs is not None:  # else read when first needed, this one included
            advance._outputs.add_error(
                step.node_id, step.scope, step.id, context.error_dict(error_class, message)
            )
        propagate(advance, step, routes, silent=[])
        return True
    moved = transitions.step_move(
        step,
        StepStatus.FAILED,
        where=where,
        error=message,
        error_class=error_class,
        **_spent_fields(advance, step, spent),
    )
    if not moved and attempt is not None:
        return False
    advance.finish(
        RunStatus.FAILED,
        error=f"step {step.node_id!r} failed: {message}",
        error_class=error_class,
    )
    return True


def _spent_fields(advance: Advance, step: Step, spent: _Spent) -> dict[str, Any]:
    """The failed step's columns for what it spent (``fail_step``); bills the run unless
    that was done already. Called just before the step's move, whose fence the caller
    has already checked when it passes ``attempt`` (a lost move rolls back with it)."""
    usage = spent.usage
    fields: dict[str, Any] = {"input": {**step.input, **spent.details}} if spent.details else {}
    if not (usage.tokens_in or usage.tokens_out or usage.cost):
        return fields
    if not spent.added:
        advance._add_usage(usage.tokens_in, usage.tokens_out, usage.cost)
        spent.added = True
    return fields | {
        "model": usage.model,
        "tokens_in": usage.tokens_in,
        "tokens_out": usage.tokens_out,
        "cost": usage.cost,
    }


def _continue(
    advance: Advance, step: Step, error: dict[str, str], attempt: int | None, spent: _Spent
) -> bool:
    """``on_error: continue``: succeed ``step`` with its error as output (``fail_step``),
    keeping what the failed attempt spent."""
    output = {"error": error}
    try:
        taken = NodeType.select_edges(REGISTRY[step.node_type], advance.node_context(step), output)
    except StepError as exc:
        message = f"{error['message']} (and on_error 'continue' could not go on: {exc.message})"
        return fail_step(
            advance,
            step,
            message,
            error["class"],
            attempt=attempt,
            recoverable=False,
            usage=spent.usage,
            details=spent.details,
            usage_added=spent.added,
        )
    details = {**spent.details, "on_error": "continued"}
    done = Done(output=output, taken=taken, details=details, usage=spent.usage)
    return advance.succeed(step, done, attempt=attempt, usage_added=spent.added)
