"""``subflow``: run another flow as one step and use its output. Inline; the child is a Run."""

from __future__ import annotations

from typing import Any

from flows.engine.nodes.base import (
    DomainError,
    Done,
    NodeContext,
    NodeType,
    SubflowRequest,
    Wait,
    object_schema,
)


class SubflowNode(NodeType):
    type = "subflow"
    title = "Subflow"
    description = "Run another flow (its live version, or a pinned one) and wait for its output."
    schema = object_schema(
        {
            "flow": {"type": "string", "minLength": 1},
            "version": {"type": "integer", "minimum": 1},
            "input": {
                "oneOf": [
                    {"type": "object", "format": "template-object"},
                    {"type": "string", "format": "template"},
                ]
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
        if payload.get("status") != "succeeded":
            status, error = payload.get("status"), payload.get("error", "")
            raise DomainError(f"subflow {ctx.config['flow']!r} {status}: {error}")
        return Done(output=payload.get("output"))


NODE = SubflowNode()
