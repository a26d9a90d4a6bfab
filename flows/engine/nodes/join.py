"""``join``: gather parallel branches. Inline; the engine decides *when* under the run lock.

Modes: ``all`` waits for every incoming branch (skipped ones count as arrived), ``any`` goes on
with the first branch to arrive, ``first`` goes on once ``count`` branches have arrived. The
output maps each arrived predecessor to its output.
"""

from __future__ import annotations

from flows.engine.nodes.base import Done, NodeContext, NodeType, object_schema


class JoinNode(NodeType):
    type = "join"
    title = "Join"
    description = "Wait for branches: all of them, any one, or the first N."
    schema = object_schema(
        {
            "mode": {"enum": ["all", "any", "first"], "default": "all"},
            "count": {"type": "integer", "minimum": 1, "maximum": 500},
        }
    )

    def run(self, ctx: NodeContext) -> Done:
        arrived = ctx.step_input.get("arrived", [])
        steps = ctx.variables.get("steps") or {}
        return Done(output={src: (steps.get(src) or {}).get("output") for src in arrived})


def required_arrivals(config: dict[str, object], incoming: int) -> int:
    """How many taken branches a join needs before it runs."""
    mode = config.get("mode", "all")
    if mode == "any":
        return 1
    if mode == "first":
        return min(int(config.get("count", 1) or 1), incoming)  # type: ignore[call-overload]
    return incoming


NODE = JoinNode()
