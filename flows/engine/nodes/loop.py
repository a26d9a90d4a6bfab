"""``loop``: go round a body (writer → auditor → loop) until a condition holds. Inline.

Each pass through the loop node checks ``until``. When it holds, the exits are followed. Else,
while fewer than ``max_iterations`` passes have run, the back edge starts the next iteration.
At the cap, ``on_max`` decides: ``exit`` (go on with the last result), ``fail``, or
``escalate`` (a person decides in the inbox: approve to go on, reject to fail the run).
"""

from __future__ import annotations

from typing import Any

from flows.engine.nodes.base import (
    ApprovalRequest,
    DomainError,
    Done,
    NodeContext,
    NodeType,
    Rejected,
    Wait,
)
from flows.engine.nodes.schema import object_schema
from flows.scopes import iteration_of


class LoopNode(NodeType):
    type = "loop"
    title = "Loop"
    description = "Repeat the body until a condition holds or N iterations; then exit or escalate."
    # Its edges are its own decision (go round or exit): a failure (``on_max: fail``, a
    # rejected escalation) fails the run. Failure paths belong on the body's nodes.
    continues_on_error = False
    routes_errors = False
    closes_loop = True
    can_be_map_body = False
    # At the limit, ``on_max: escalate`` waits on a person.
    waits_on_people = True
    advanced = ("on_max", "escalation_title", "escalation_draft", "retry", "timeout_seconds")
    advanced_note = (
        "What happens at the limit (by default the loop exits with its last result), the "
        "escalation a person sees, retries and a time limit."
    )
    schema = object_schema(
        {
            "until": {
                "type": "string",
                "format": "condition",
                "minLength": 1,
                "title": "Stop when",
                "description": "A condition, e.g. steps.audit.output.score >= 8.",
            },
            "max_iterations": {
                "type": "integer",
                "minimum": 1,
                "maximum": 100,
                "title": "Rounds at most",
                "description": "Then At the limit decides.",
            },
            "on_max": {
                "enum": ["exit", "fail", "escalate"],
                "default": "exit",
                "title": "At the limit",
                "description": "exit: go on with the last result; fail the run; or escalate "
                "to a person.",
            },
            "escalation_title": {
                "type": "string",
                "format": "template",
                "title": "Escalation title",
                "description": "What the person sees first when the loop escalates.",
            },
            "escalation_draft": {
                "type": "string",
                "format": "template",
                "title": "Escalation draft",
                "description": "What they approve to go on (or reject to fail the run).",
            },
        },
        required=["until", "max_iterations"],
    )

    def human_role(self, config: dict[str, Any]) -> str:
        return "escalation" if config.get("on_max") == "escalate" else ""

    def _split(self, ctx: NodeContext) -> tuple[list[int], list[int]]:
        back = [edge.index for edge in ctx.out_edges if edge.back]
        exits = [edge.index for edge in ctx.out_edges if not edge.back]
        return back, exits

    def run(self, ctx: NodeContext) -> Done | Wait:
        iteration = iteration_of(ctx.scope, ctx.node_id) or 0
        back, exits = self._split(ctx)
        passes = iteration + 1
        if ctx.evaluate(ctx.config["until"]):
            return Done({"iterations": passes, "exit": "condition"}, taken=exits, silent=back)
        if passes < int(ctx.config["max_iterations"]):
            return Done({"iterations": passes, "exit": None}, taken=back, silent=exits)
        on_max = ctx.config.get("on_max", "exit")
        if on_max == "fail":
            raise DomainError(
                f"loop {ctx.node_id!r} reached {passes} iterations without its condition holding"
            )
        if on_max == "escalate":
            title = ctx.render(
                ctx.config.get("escalation_title")
                or f"Loop {ctx.node_id} did not converge after {passes} iterations"
            )
            draft = ctx.render(ctx.config.get("escalation_draft") or "")
            return Wait(
                approval=ApprovalRequest(
                    title=str(title),
                    draft=draft,
                    reason=f"loop reached max_iterations={passes} without `{ctx.config['until']}`",
                ),
                input={"iterations": passes},
            )
        return Done({"iterations": passes, "exit": "max_iterations"}, taken=exits, silent=back)

    def resume(self, ctx: NodeContext, payload: dict[str, Any]) -> Done:
        back, exits = self._split(ctx)
        if payload.get("decision") != "approved":
            reason = payload.get("reason") or "no reason given"
            raise Rejected(f"escalation of loop {ctx.node_id!r} was rejected: {reason}")
        output = {
            "iterations": ctx.step_input.get("iterations"),
            "exit": "escalation_approved",
            "output": payload.get("output"),
        }
        return Done(output, taken=exits, silent=back)


NODE = LoopNode()
