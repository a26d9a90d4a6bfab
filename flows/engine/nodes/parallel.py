"""``parallel``: start every outgoing branch at once (scatter). Inline."""

from __future__ import annotations

from flows.engine.nodes.base import Done, NodeContext, NodeType
from flows.engine.nodes.schema import object_schema


class ParallelNode(NodeType):
    type = "parallel"
    title = "Parallel"
    description = "Fan out: every outgoing branch runs at the same time."
    schema = object_schema({})
    # It only fans out: nothing in it can fail, so there is no error to route.
    routes_errors = False

    def run(self, ctx: NodeContext) -> Done:
        return Done(
            output={"branches": [edge.dst for edge in ctx.out_edges]},
            taken=[edge.index for edge in ctx.out_edges],
        )


NODE = ParallelNode()
