"""``end``: finish the run with an output. Branches still active are cancelled."""

from __future__ import annotations

from flows.engine.nodes.base import Done, NodeContext, NodeType
from flows.engine.nodes.schema import object_schema


class EndNode(NodeType):
    type = "end"
    title = "End"
    description = "Finish the run; its output becomes the run's output."
    can_be_map_body = False
    schema = object_schema(
        {
            "output": {
                "title": "Run output",
                "description": "A template, or a JSON object whose values may be templates.",
                "oneOf": [
                    {"type": "string", "format": "template"},
                    {"type": "object", "format": "template-object"},
                ],
            },
        }
    )

    def run(self, ctx: NodeContext) -> Done:
        if "output" in ctx.config:
            output = ctx.render(ctx.config["output"])
        else:
            output = ctx.variables.get("previous")
        return Done(output=output, taken=[], ends_run=True)


NODE = EndNode()
