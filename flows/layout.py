"""Where to draw a flow's nodes and edges: pure geometry for the server-rendered SVG graph.

Takes a document and its compiled ``flows.graph.Graph``; returns boxes and SVG path strings.
Nodes sit at their document ``position`` when every node has one; otherwise a layered layout
is computed from the graph's topological ``order`` (layer = longest forward path from the
start, map bodies under their map node). No I/O, no Django.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flows.graph import Edge, Graph

NODE_WIDTH = 168
NODE_HEIGHT = 56
LAYER_GAP_X = 220
ROW_GAP_Y = 110
PADDING = 24
# Loop back edges arc above their nodes; leave room for the arc and its label.
BACK_ARC = 52
LABEL_MAX = 28


@dataclass(frozen=True)
class NodeBox:
    id: str
    name: str
    type: str
    x: float
    y: float
    width: int = NODE_WIDTH
    height: int = NODE_HEIGHT


@dataclass(frozen=True)
class EdgeLine:
    index: int
    src: str
    dst: str
    kind: str  # "plain" | "conditional" | "back" | "error" | "body"
    d: str  # SVG path data
    label: str
    title: str  # the full condition or label, for the tooltip
    label_x: float
    label_y: float


@dataclass(frozen=True)
class Layout:
    nodes: list[NodeBox]
    edges: list[EdgeLine]
    width: int
    height: int


def layered_positions(graph: Graph) -> dict[str, tuple[float, float]]:
    """A left-to-right layered layout: x by longest forward path, y by order within a layer."""
    layer: dict[str, int] = {}
    order = graph.order or list(graph.nodes)
    for node_id in order:
        incoming = graph.in_forward.get(node_id, [])
        layer[node_id] = max((layer.get(e.src, 0) + 1 for e in incoming), default=0)
    for body, map_node in graph.map_body.items():
        layer[body] = layer.get(map_node, 0)
    rows: dict[int, int] = {}
    positions: dict[str, tuple[float, float]] = {}
    for node_id in [*order, *(n for n in graph.nodes if n not in order)]:
        column = layer.get(node_id, 0)
        row = rows.get(column, 0)
        rows[column] = row + 1
        positions[node_id] = (column * LAYER_GAP_X, row * ROW_GAP_Y)
    return positions


def document_positions(document: dict[str, Any]) -> dict[str, tuple[float, float]] | None:
    """The document's own positions, or None unless every node has one."""
    positions: dict[str, tuple[float, float]] = {}
    for node in document.get("nodes", []):
        position = node.get("position")
        if not isinstance(position, dict):
            return None
        try:
            positions[node["id"]] = (float(position["x"]), float(position["y"]))
        except (KeyError, TypeError, ValueError):
            return None
    return positions


def layout(document: dict[str, Any], graph: Graph) -> Layout:
    """Boxes for every node and a path for every edge, shifted so the drawing starts at the
    padding. Width and height are the drawing's size in SVG user units."""
    positions = document_positions(document) or layered_positions(graph)
    has_back = any(edge.back for edge in graph.edges)
    top = PADDING + (BACK_ARC + 12 if has_back else 0)
    min_x = min((x for x, _ in positions.values()), default=0.0)
    min_y = min((y for _, y in positions.values()), default=0.0)
    boxes: dict[str, NodeBox] = {}
    for node_id, node in graph.nodes.items():
        x, y = positions.get(node_id, (min_x, min_y))
        boxes[node_id] = NodeBox(
            id=node_id,
            name=str(node.get("name") or node_id),
            type=str(node.get("type", "")),
            x=x - min_x + PADDING,
            y=y - min_y + top,
        )
    labels = {
        index: str(raw.get("label") or "")
        for index, raw in enumerate(document.get("edges", []))
        if isinstance(raw, dict)
    }
    edges = [_edge_line(edge, boxes, graph, labels.get(edge.index, "")) for edge in graph.edges]
    edges += [_body_line(map_node, body, boxes) for body, map_node in graph.map_body.items()]
    width = max((b.x + b.width for b in boxes.values()), default=0) + PADDING
    height = max((b.y + b.height for b in boxes.values()), default=0) + PADDING
    return Layout(nodes=list(boxes.values()), edges=edges, width=int(width), height=int(height))


def _edge_line(edge: Edge, boxes: dict[str, NodeBox], graph: Graph, label: str) -> EdgeLine:
    src, dst = boxes[edge.src], boxes[edge.dst]
    conditional = edge.when is not None or graph.kind(edge.src).routes_by_condition
    if not label and edge.when:
        label = edge.when
    elif not label and conditional:
        label = "otherwise"
    title = edge.when or label
    if edge.back:
        kind = "back"
        points = _back_arc(src, dst)
    elif edge.on_error:
        kind = "error"  # taken only when its source fails for good
        label = label or "on error"
        title = title or "taken when this step fails for good"
        points = _connector(src, dst)
    else:
        kind = "conditional" if conditional else "plain"
        points = _connector(src, dst)
    mid_x, mid_y = _bezier_mid(points)
    if edge.back or abs(points[3][1] - points[0][1]) < 8:
        mid_y -= 9  # sit above a straight line rather than on it
    return EdgeLine(
        index=edge.index,
        src=edge.src,
        dst=edge.dst,
        kind=kind,
        d=_path(points),
        label=_shorten(label),
        title=title,
        label_x=round(mid_x, 1),
        label_y=round(mid_y, 1),
    )


def _body_line(map_node: str, body: str, boxes: dict[str, NodeBox]) -> EdgeLine:
    src, dst = boxes[map_node], boxes[body]
    points = _connector(src, dst)
    mid_x, mid_y = _bezier_mid(points)
    return EdgeLine(
        index=-1,
        src=map_node,
        dst=body,
        kind="body",
        d=_path(points),
        label="each item",
        title=f"{map_node} runs {body} once per item",
        label_x=round(mid_x, 1),
        label_y=round(mid_y, 1),
    )


Point = tuple[float, float]


def _connector(src: NodeBox, dst: NodeBox) -> tuple[Point, Point, Point, Point]:
    """A cubic curve from ``src`` to ``dst``: side to side when ``dst`` is to the right,
    otherwise bottom to top (or top to bottom) when it sits below (or above)."""
    if dst.x >= src.x + src.width - 10:
        start = (src.x + src.width, src.y + src.height / 2)
        end = (dst.x, dst.y + dst.height / 2)
        bend = max(36.0, (end[0] - start[0]) / 2)
        return start, (start[0] + bend, start[1]), (end[0] - bend, end[1]), end
    if dst.y >= src.y:
        start = (src.x + src.width / 2, src.y + src.height)
        end = (dst.x + dst.width / 2, dst.y)
    else:
        start = (src.x + src.width / 2, src.y)
        end = (dst.x + dst.width / 2, dst.y + dst.height)
    bend = max(24.0, abs(end[1] - start[1]) / 2) * (1 if end[1] >= start[1] else -1)
    return start, (start[0], start[1] + bend), (end[0], end[1] - bend), end


def _back_arc(src: NodeBox, dst: NodeBox) -> tuple[Point, Point, Point, Point]:
    """A loop's back edge: an arc above both nodes, from the loop node back to the head."""
    start = (src.x + src.width / 2, src.y)
    end = (dst.x + dst.width / 2, dst.y)
    peak = min(start[1], end[1]) - BACK_ARC * 4 / 3
    return start, (start[0], peak), (end[0], peak), end


def _bezier_mid(points: tuple[Point, Point, Point, Point]) -> Point:
    (x0, y0), (x1, y1), (x2, y2), (x3, y3) = points
    return (x0 + 3 * x1 + 3 * x2 + x3) / 8, (y0 + 3 * y1 + 3 * y2 + y3) / 8


def _path(points: tuple[Point, Point, Point, Point]) -> str:
    (x0, y0), (x1, y1), (x2, y2), (x3, y3) = points
    return f"M{x0:g},{y0:g} C{x1:g},{y1:g} {x2:g},{y2:g} {x3:g},{y3:g}"


def _shorten(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= LABEL_MAX else text[: LABEL_MAX - 1] + "…"
