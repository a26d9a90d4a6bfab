"""``router``: choose outgoing edges by their conditions. Inline.

Edges with a ``when`` are the routes, checked in document order; edges without one are the
default, followed only when no route matches. ``mode: first`` follows the first matching route,
``mode: all`` every matching route.
"""

from __future__ import annotations

from flows.engine.nodes.base import Done, NodeContext, NodeType, with_own_output
from flows.engine.nodes.schema import object_schema


class RouterNode(NodeType):
    type = "router"
    title = "Router"
    description = "Follow the outgoing edge whose condition holds (or the default edge)."
    routes_by_condition = True
    schema = object_schema(
        {
            "mode": {
                "enum": ["first", "all"],
                "default": "first",
                "title": "Routes to follow",
                "description": "first: only the first edge whose condition holds; all: every "
                "one. With none, the edges without a condition.",
            }
        }
    )

    def run(self, ctx: NodeContext) -> Done:
        first = ctx.config.get("mode", "first") == "first"
        extra = with_own_output(ctx, None)
        matched: list[int] = []
        for edge in ctx.out_edges:
            if edge.when is not None and ctx.evaluate(edge.when, extra):
                matched.append(edge.index)
                if first:
                    break
        if not matched:
            matched = [edge.index for edge in ctx.out_edges if edge.when is None]
        routes = [edge.dst for edge in ctx.out_edges if edge.index in matched]
        return Done(output={"routes": routes}, taken=matched)


NODE = RouterNode()
