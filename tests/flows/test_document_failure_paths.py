"""Failure paths in the ``controlroom.flow/v1`` document: ``on_error`` on nodes and
``"on": "error"`` on edges are validated with precise pointers, compiled into the graph, and
exported unchanged."""

from __future__ import annotations

from typing import Any

import pytest

from flows import graph as graphs
from flows.document import document_problems
from flows.engine.nodes import describe_all
from flows.versions import flow_export, flow_save
from tests.support.flows import document, node


def _problems(doc: dict[str, Any]) -> list[tuple[str, str]]:
    found = document_problems(doc, known_agents=set(), known_tools={"send_email", "flaky"})
    return [(p.pointer, p.message) for p in found]


def _doc(*, fetch: dict[str, Any] | None = None, edge: dict[str, Any] | None = None) -> dict:
    """fetch (tool) → send (end), and an error edge fetch → fallback (end)."""
    return document(
        "failure-paths",
        [
            {**node("fetch", "tool", tool="flaky", args={}), **(fetch or {})},
            node("send", "end"),
            node("fallback", "end"),
        ],
        [
            ("fetch", "send"),
            {"from": "fetch", "to": "fallback", "on": "error", **(edge or {})},
        ],
    )


def test_on_error_and_error_edges_are_accepted() -> None:
    assert _problems(_doc(fetch={"on_error": "continue"})) == []
    assert _problems(_doc(fetch={"on_error": "fail"}, edge={"on": "error"})) == []


def test_an_edge_may_say_on_success_explicitly() -> None:
    doc = _doc()
    doc["edges"][0]["on"] = "success"
    assert _problems(doc) == []


@pytest.mark.parametrize(
    ("where", "value", "pointer"),
    [
        ("fetch", {"on_error": "retry"}, "/nodes/0/on_error"),
        ("edge", {"on": "fail"}, "/edges/1/on"),
    ],
)
def test_an_unknown_failure_mode_is_refused_at_its_field(
    where: str, value: dict[str, Any], pointer: str
) -> None:
    doc = _doc(fetch=value) if where == "fetch" else _doc(edge=value)
    problems = _problems(doc)
    assert [p for p, _ in problems] == [pointer]
    assert "is not one of" in problems[0][1]


def test_an_error_edge_takes_no_condition() -> None:
    problems = _problems(_doc(edge={"when": "input.x == 1"}))
    assert problems == [
        (
            "/edges/1/when",
            "an error edge takes no condition: it is followed whenever its source fails",
        )
    ]


def test_no_error_edge_from_a_node_that_cannot_fail() -> None:
    doc = document(
        "fan",
        [node("fan", "parallel"), node("a", "end"), node("b", "end")],
        [("fan", "a"), {"from": "fan", "to": "b", "on": "error"}],
    )
    assert _problems(doc) == [
        ("/edges/1/on", "a parallel node has no failure to route: no error edge from it")
    ]


def test_an_approval_cannot_continue_on_error() -> None:
    doc = document(
        "gate",
        [{**node("review", "approval"), "on_error": "continue"}, node("send", "end")],
        [("review", "send")],
    )
    [(pointer, message)] = _problems(doc)
    assert pointer == "/nodes/0/on_error"
    assert message.startswith("on_error 'continue' is not allowed on approval nodes")


def test_the_graph_keeps_error_edges_apart_from_normal_ones() -> None:
    graph, problems = graphs.build(_doc())
    assert problems == []
    assert [e.dst for e in graph.out_edges["fetch"]] == ["send"]
    assert [e.dst for e in graph.error_edges["fetch"]] == ["fallback"]
    assert [e.src for e in graph.in_forward["fallback"]] == ["fetch"]  # an arrival like any
    assert graph.is_leaf("fetch") is False
    assert graph.on_error("fetch") == "fail"


def test_node_types_say_which_failure_keys_they_take() -> None:
    described = {entry["type"]: entry for entry in describe_all()}
    assert described["tool"]["on_error"] == ["fail", "continue"]
    assert described["tool"]["error_edges"] is True
    assert described["approval"]["on_error"] == ["fail"]
    assert described["parallel"]["error_edges"] is False


@pytest.mark.django_db
def test_failure_paths_export_unchanged() -> None:
    doc = _doc(fetch={"on_error": "continue"})
    doc["edges"][0]["on"] = "success"
    _, version = flow_save(document=doc)
    assert flow_export(version=version) == doc
