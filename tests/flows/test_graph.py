"""Graph compile: back edges, loop bodies, map bodies, and the scopes steps run in."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from flows.graph import Edge, Graph, build
from flows.scopes import item_index, iteration_of, map_item_scope, map_parent_scope


def _node(node_id: str, node_type: str = "router", **config: Any) -> dict[str, Any]:
    return {"id": node_id, "type": node_type, "config": config}


def _loop(node_id: str) -> dict[str, Any]:
    return _node(node_id, "loop", until="false", max_iterations=3)


def _compile(nodes: list[dict[str, Any]], edges: list[tuple[str, str]]) -> Graph:
    graph, problems = build(
        {"nodes": nodes, "edges": [{"from": src, "to": dst} for src, dst in edges]}
    )
    assert problems == []
    return graph


def _edge(graph: Graph, src: str, dst: str) -> Edge:
    return next(edge for edge in graph.edges if (edge.src, edge.dst) == (src, dst))


def _walk(graph: Graph, path: list[str], scope: str = "") -> list[str]:
    """The scope of each node along ``path`` (the first node runs in ``scope``)."""
    scopes = [scope]
    for src, dst in itertools.pairwise(path):
        scope = graph.target_scope(_edge(graph, src, dst), scope)
        scopes.append(scope)
    return scopes


@pytest.fixture
def single_loop() -> Graph:
    # start -> draft -> audit -> loop -> (back to draft) | publish
    return _compile(
        [_node("start"), _node("draft"), _node("audit"), _loop("loop"), _node("publish", "end")],
        [
            ("start", "draft"),
            ("draft", "audit"),
            ("audit", "loop"),
            ("loop", "draft"),
            ("loop", "publish"),
        ],
    )


def test_the_edge_from_a_loop_node_back_to_its_body_is_the_back_edge(single_loop: Graph) -> None:
    backs = [(edge.src, edge.dst) for edge in single_loop.edges if edge.back]
    assert backs == [("loop", "draft")]
    assert single_loop.loop_head == {"loop": "draft"}
    assert single_loop.head_loop == {"draft": "loop"}
    assert single_loop.loop_body["loop"] == frozenset({"draft", "audit"})


def test_back_edges_are_not_forward_inputs(single_loop: Graph) -> None:
    assert [edge.src for edge in single_loop.in_forward["draft"]] == ["start"]
    assert single_loop.entries == ["start"]
    assert single_loop.order == ["start", "draft", "audit", "loop", "publish"]


def test_entering_a_loop_pushes_iteration_zero(single_loop: Graph) -> None:
    assert _walk(single_loop, ["start", "draft", "audit", "loop"]) == [
        "",
        "loop#0",
        "loop#0",
        "loop#0",
    ]


def test_the_back_edge_bumps_the_iteration(single_loop: Graph) -> None:
    back = _edge(single_loop, "loop", "draft")
    assert single_loop.target_scope(back, "loop#0") == "loop#1"
    assert single_loop.target_scope(back, "loop#1") == "loop#2"
    assert iteration_of("loop#2", "loop") == 2


def test_leaving_a_loop_pops_its_scope(single_loop: Graph) -> None:
    assert single_loop.target_scope(_edge(single_loop, "loop", "publish"), "loop#2") == ""


def test_a_loop_scope_that_does_not_match_is_refused(single_loop: Graph) -> None:
    with pytest.raises(ValueError, match="not inside loop"):
        single_loop.target_scope(_edge(single_loop, "loop", "draft"), "")
    with pytest.raises(ValueError, match="not inside loop"):
        single_loop.target_scope(_edge(single_loop, "loop", "publish"), "other#0")


@pytest.fixture
def nested_loops() -> Graph:
    # start -> outer_head -> inner_head -> inner -> (back to inner_head) | check
    #          check -> outer -> (back to outer_head) | done
    return _compile(
        [
            _node("start"),
            _node("outer_head"),
            _node("inner_head"),
            _loop("inner"),
            _node("check"),
            _loop("outer"),
            _node("done", "end"),
        ],
        [
            ("start", "outer_head"),
            ("outer_head", "inner_head"),
            ("inner_head", "inner"),
            ("inner", "inner_head"),
            ("inner", "check"),
            ("check", "outer"),
            ("outer", "outer_head"),
            ("outer", "done"),
        ],
    )


def test_nested_loops_have_nested_bodies(nested_loops: Graph) -> None:
    assert nested_loops.loop_body["inner"] == frozenset({"inner_head"})
    assert nested_loops.loop_body["outer"] == frozenset(
        {"outer_head", "inner_head", "inner", "check"}
    )


def test_nested_loops_stack_their_scopes(nested_loops: Graph) -> None:
    g = nested_loops
    assert _walk(g, ["start", "outer_head", "inner_head", "inner"]) == [
        "",
        "outer#0",
        "outer#0/inner#0",
        "outer#0/inner#0",
    ]
    assert g.target_scope(_edge(g, "inner", "inner_head"), "outer#0/inner#0") == "outer#0/inner#1"
    assert _walk(g, ["inner", "check", "outer"], "outer#0/inner#1") == [
        "outer#0/inner#1",
        "outer#0",
        "outer#0",
    ]
    assert g.target_scope(_edge(g, "outer", "outer_head"), "outer#0") == "outer#1"
    # The second pass of the outer loop starts the inner loop afresh.
    assert g.target_scope(_edge(g, "outer_head", "inner_head"), "outer#1") == "outer#1/inner#0"
    assert g.target_scope(_edge(g, "outer", "done"), "outer#1") == ""
    assert iteration_of("outer#1/inner#2", "outer") == 1
    assert iteration_of("outer#1/inner#2", "inner") == 2
    assert iteration_of("outer#1", "inner") is None


def test_a_loop_exit_straight_into_another_loop_leaves_the_first_scope() -> None:
    g = _compile(
        [
            _node("start"),
            _node("first_head"),
            _loop("first"),
            _node("second_head"),
            _loop("second"),
            _node("done", "end"),
        ],
        [
            ("start", "first_head"),
            ("first_head", "first"),
            ("first", "first_head"),
            ("first", "second_head"),
            ("second_head", "second"),
            ("second", "second_head"),
            ("second", "done"),
        ],
    )
    assert g.target_scope(_edge(g, "first", "second_head"), "first#2") == "second#0"
    assert g.target_scope(_edge(g, "second", "done"), "second#0") == ""


def test_a_map_body_runs_in_one_scope_per_item() -> None:
    g = _compile(
        [
            _node("start"),
            _node("fan", "map", items="{{ input.xs }}", body="each"),
            _node("each", "tool", tool="send_email"),
            _node("done", "end"),
        ],
        [("start", "fan"), ("fan", "done")],
    )
    assert g.map_body == {"each": "fan"}
    assert g.entries == ["start"]
    scope = map_item_scope("", "fan", 3)
    assert scope == "@fan#3"
    assert item_index(scope) == ("fan", 3)
    assert map_parent_scope(scope) == ""
    inside_loop = map_item_scope("loop#1", "fan", 0)
    assert inside_loop == "loop#1/@fan#0"
    assert item_index(inside_loop) == ("fan", 0)
    assert map_parent_scope(inside_loop) == "loop#1"
    assert iteration_of(inside_loop, "loop") == 1
    assert item_index("loop#1") is None
    assert item_index("") is None


def test_a_plain_edge_keeps_the_scope(single_loop: Graph) -> None:
    assert single_loop.target_scope(_edge(single_loop, "draft", "audit"), "loop#4") == "loop#4"


def test_a_flow_may_begin_with_a_loop_body() -> None:
    g = _compile(
        [_node("write"), _node("audit"), _loop("again"), _node("publish", "end")],
        [("write", "audit"), ("audit", "again"), ("again", "write"), ("again", "publish")],
    )
    assert g.entries == ["write"]
    assert [(edge.src, edge.dst) for edge in g.edges if edge.back] == [("again", "write")]
    assert g.entry_scope("write") == "again#0"
    assert _walk(g, ["write", "audit", "again", "publish"], g.entry_scope("write")) == [
        "again#0",
        "again#0",
        "again#0",
        "",
    ]


def test_nested_loops_may_begin_the_flow() -> None:
    g = _compile(
        [
            _node("outer_head"),
            _node("inner_head"),
            _loop("inner"),
            _node("check"),
            _loop("outer"),
            _node("done", "end"),
        ],
        [
            ("outer_head", "inner_head"),
            ("inner_head", "inner"),
            ("inner", "inner_head"),
            ("inner", "check"),
            ("check", "outer"),
            ("outer", "outer_head"),
            ("outer", "done"),
        ],
    )
    assert g.loop_head == {"inner": "inner_head", "outer": "outer_head"}
    assert g.loop_body["inner"] == frozenset({"inner_head"})
    assert g.entries == ["outer_head"]
    assert g.entry_scope("outer_head") == "outer#0"
    assert g.entry_scope("check") == ""
