"""``map``: run a body node once per item of a list (manager → workers), N at a time. Inline.

``items`` is a template that must give a list (``{{ steps.plan.output.tasks }}``); ``body``
names the node that runs per item, with ``item`` and ``index`` in its templates. The output is
the list of the body's outputs, in item order.
"""

from __future__ import annotations

from typing import Any

from flows.engine.nodes.base import (
    DomainError,
    Done,
    MapRequest,
    NodeContext,
    NodeType,
    Wait,
)
from flows.engine.nodes.schema import object_schema

MAX_ITEMS = 1000


class MapNode(NodeType):
    type = "map"
    title = "Map"
    description = "Fan out over a list: run the body node once per item, with a concurrency limit."
    can_be_map_body = False
    advanced = ("concurrency", "retry", "timeout_seconds")
    advanced_note = "How many items run at once (default 4), retries and a time limit."
    schema = object_schema(
        {
            "items": {
                "type": "string",
                "format": "template",
                "minLength": 1,
                "title": "Items",
                "description": "A template giving a list, e.g. {{ steps.plan.output.tasks }}.",
            },
            "body": {
                "type": "string",
                "minLength": 1,
                "title": "Node run per item",
                "description": "Its id; it sees {{ item }} and {{ index }}.",
            },
            "concurrency": {
                "type": "integer",
                "minimum": 1,
                "maximum": 100,
                "default": 4,
                "title": "Items at a time",
                "description": "Default 4.",
            },
        },
        required=["items", "body"],
    )

    def map_body(self, config: dict[str, Any]) -> str | None:
        body = config.get("body")
        return body if isinstance(body, str) else None

    def reusable_in_retry(self, output: Any, taken: list[int] | None) -> bool:
        """Never: a map is gathered again from its (reused) items."""
        return False

    def run(self, ctx: NodeContext) -> Done | Wait:
        items = ctx.render(ctx.config["items"])
        if not isinstance(items, list):
            raise DomainError(f"map items must be a list, got {type(items).__name__}")
        if len(items) > MAX_ITEMS:
            raise DomainError(f"map has {len(items)} items; the limit is {MAX_ITEMS}")
        if not items:
            return Done(output=[])
        return Wait(map=MapRequest(items=items, concurrency=int(ctx.config.get("concurrency", 4))))

    def resume(self, ctx: NodeContext, payload: dict[str, Any]) -> Done:
        return Done(output=payload["outputs"])


NODE = MapNode()
