"""The node type registry. A new node type is a module here with a ``NODE`` instance, added
to the tuple below (``CONTRIBUTING.md``, "Add a node type"); the validator, the engine and
``GET /api/node-types`` (the editor's palette) know it from here."""

from __future__ import annotations

from typing import Any

from flows.engine.nodes import (
    agent,
    approval,
    end,
    join,
    loop,
    parallel,
    router,
    subflow,
    tool,
    transform,
    wait,
)
from flows.engine.nodes import map as map_
from flows.engine.nodes.base import NodeType

REGISTRY: dict[str, NodeType] = {
    module.NODE.type: module.NODE
    for module in (
        agent,
        tool,
        router,
        parallel,
        join,
        map_,
        loop,
        approval,
        wait,
        subflow,
        transform,
        end,
    )
}


def get(node_type: str) -> NodeType:
    return REGISTRY[node_type]


def describe_all() -> list[dict[str, Any]]:
    """What ``GET /api/node-types`` gives: every type's title, schema and failure keys, the
    palette and form the editor builds from."""
    return [node.describe() for node in REGISTRY.values()]


def waking_at_due_time() -> list[str]:
    """The node types whose waiting steps wake when their ``due_at`` passes."""
    return [name for name, node in REGISTRY.items() if node.wakes_at_due_time]
