"""The node type registry. A new node type is a module here with a ``NODE`` instance."""

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
    wait,
)
from flows.engine.nodes import map as map_
from flows.engine.nodes.base import NodeType

REGISTRY: dict[str, NodeType] = {
    module.NODE.type: module.NODE
    for module in (agent, tool, router, parallel, join, map_, loop, approval, wait, subflow, end)
}


def get(node_type: str) -> NodeType:
    return REGISTRY[node_type]


def describe_all() -> list[dict[str, Any]]:
    return [node.describe() for node in REGISTRY.values()]
