"""Graph drawing geometry: document positions, the layered fallback, edge kinds and labels."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from flows import graph, layout

DEMO = Path(__file__).resolve().parents[2] / "flows" / "demo"


def drawn(document: dict[str, Any]) -> layout.Layout:
    compiled, problems = graph.build(document)
    assert not problems
    return layout.layout(document, compiled)


def demo(name: str) -> dict[str, Any]:
    return json.loads((DEMO / f"{name}.json").read_text())


def nodes(*specs: tuple[str, str]) -> list[dict[str, Any]]:
    return [{"id": node_id, "type": node_type, "config": {}} for node_id, node_type in specs]


def test_document_positions_are_kept_relative_to_each_other() -> None:
    document = demo("lead-to-meeting")
    boxes = {box.id: box for box in drawn(document).nodes}
    assert boxes["qualify"].x - boxes["enrich"].x == 220
    assert boxes["nurture"].y - boxes["draft"].y == 180
    assert min(box.x for box in boxes.values()) == layout.PADDING


def test_missing_positions_get_a_layered_layout_by_longest_path() -> None:
    document = {
        "nodes": nodes(("a", "agent"), ("b", "agent"), ("c", "agent"), ("d", "join")),
        "edges": [
            {"from": "a", "to": "b"},
            {"from": "a", "to": "c"},
            {"from": "b", "to": "d"},
            {"from": "c", "to": "d"},
        ],
    }
    boxes = {box.id: box for box in drawn(document).nodes}
    assert boxes["a"].x < boxes["b"].x == boxes["c"].x < boxes["d"].x
    assert boxes["b"].y != boxes["c"].y


def test_router_edges_are_conditional_and_labelled() -> None:
    edges = {(e.src, e.dst): e for e in drawn(demo("lead-to-meeting")).edges}
    assert edges[("route", "draft")].kind == "conditional"
    assert edges[("route", "draft")].title == "steps.qualify.output.score >= 70"
    assert edges[("route", "nurture")].label == "otherwise"
    assert edges[("enrich", "qualify")].kind == "plain" and edges[("enrich", "qualify")].label == ""


def test_a_loop_back_edge_is_drawn_as_an_arc_above_the_nodes() -> None:
    drawing = drawn(demo("content-pipeline"))
    back = next(e for e in drawing.edges if e.kind == "back")
    assert (back.src, back.dst, back.label) == ("revise", "write", "revise")
    top = min(box.y for box in drawing.nodes)
    assert back.label_y < top  # the arc (and its label) runs above the row of nodes


def test_a_map_body_hangs_under_its_map_node() -> None:
    drawing = drawn(demo("invoice-reconciliation"))
    body = next(e for e in drawing.edges if e.kind == "body")
    assert (body.src, body.dst, body.label) == ("match_lines", "match_line", "each item")


def test_long_labels_are_shortened_but_kept_whole_in_the_title() -> None:
    condition = "steps.classify.output.category == 'billing' and steps.classify.output.score > 3"
    document = {
        "nodes": nodes(("r", "router"), ("x", "end"), ("y", "end")),
        "edges": [{"from": "r", "to": "x", "when": condition}, {"from": "r", "to": "y"}],
    }
    edge = next(e for e in drawn(document).edges if e.dst == "x")
    assert len(edge.label) == layout.LABEL_MAX and edge.label.endswith("…")
    assert edge.title == condition


def test_the_drawing_is_big_enough_for_every_node() -> None:
    drawing = drawn(demo("tier-one-support"))
    assert all(
        box.x + box.width <= drawing.width and box.y + box.height <= drawing.height
        for box in drawing.nodes
    )
