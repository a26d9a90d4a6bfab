"""``subflow``: run another flow as one step and use its output. Inline; the child is a Run.

Roll-up: when the child succeeds, the subflow step's usage is the child run's tokens and cost
(which already hold its own subflows'), billed under model ``subflow:<child flow slug>``. The
engine adds a step's usage to its run's totals under the run's row lock, so a parent run's
tokens and cost include its children's, and its flow's ROI counts them (``flows.roi``). Its
duration spans the child's, since the step waits for it.

A child that fails or is cancelled fails the step with the child's error class (a child whose
approval was rejected: ``rejected``; a cancelled child, or one with no class: ``domain``) and
a message naming the child run, so a parent with no failure path for the step fails the same
way. What the child spent is the failed step's usage all the same (``StepError.usage``): the
parent's totals include every child's, whatever its outcome.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from flows.engine.nodes.base import (
    DomainError,
    Done,
    NodeContext,
    NodeType,
    SubflowRequest,
    Usage,
    Wait,
    classified,
)
from flows.engine.nodes.schema import object_schema


class SubflowNode(NodeType):
    type = "subflow"
    title = "Subflow"
    description = "Run another flow (its live version, or a pinned one) and wait for its output."
    advanced = ("version", "retry", "timeout_seconds")
    advanced_note = (
        "A pinned version of the child flow (default: its live one), retries and a time limit."
    )
    schema = object_schema(
        {
            "flow": {
                "type": "string",
                "minLength": 1,
                "title": "Flow",
                "description": "The slug of the flow to run.",
            },
            "version": {
                "type": "integer",
                "minimum": 1,
                "title": "Pinned version",
                "description": "Empty: its live version.",
            },
            "input": {
                "title": "Input",
                "description": "What the child run gets: a JSON object whose values may be "
                "templates, or one template giving an object (default: this run's input).",
                "oneOf": [
                    {"type": "object", "format": "template-object"},
                    {"type": "string", "format": "template"},
                ],
            },
        },
        required=["flow"],
    )

    def run(self, ctx: NodeContext) -> Wait:
        child_input = ctx.render(ctx.config.get("input", "{{ input }}"))
        if not isinstance(child_input, dict):
            raise DomainError("subflow input must render to an object")
        return Wait(
            subflow=SubflowRequest(
                flow=str(ctx.config["flow"]), input=child_input, version=ctx.config.get("version")
            )
        )

    def resume(self, ctx: NodeContext, payload: dict[str, Any]) -> Done:
        """The child run ended (``payload``: its ``status``, ``output``, ``error``,
        ``error_class``, ``run_id`` and ``usage``, from ``scheduler.subflow_done``)."""
        usage = _usage(payload.get("usage"))
        if payload.get("status") != "succeeded":
            status, error = payload.get("status"), payload.get("error", "")
            message = f"subflow {ctx.config['flow']!r} {status} (run {payload.get('run_id')})"
            raise classified(
                str(payload.get("error_class") or "domain"),
                f"{message}: {error}" if error else message,
                usage=usage,
            )
        return Done(output=payload.get("output"), usage=usage)


def _usage(spent: Any) -> Usage:
    """The child's totals as this step's usage (nothing when the payload carries none)."""
    if not isinstance(spent, dict):
        return Usage()
    try:
        cost = Decimal(str(spent.get("cost") or 0))
    except InvalidOperation:
        cost = Decimal(0)
    return Usage(
        model=f"subflow:{spent.get('flow', '')}"[:120],
        tokens_in=int(spent.get("tokens_in") or 0),
        tokens_out=int(spent.get("tokens_out") or 0),
        cost=cost,
    )


NODE = SubflowNode()
