"""The ``transform`` node: a JMESPath query reshapes its input (a template, or the previous
step's output) into the step's output; a query that cannot run is a design-time problem with
a pointer, and one that fails or goes past its bounds fails the step."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from flows.document import document_problems
from flows.engine import runs
from flows.engine.nodes import REGISTRY, describe_all
from flows.models import Run, Step
from tests.support.flows import document, drive, node, save

pytestmark = pytest.mark.django_db

ORDERS = {
    "orders": [
        {"id": "A1", "status": "open", "total": 30},
        {"id": "B2", "status": "closed", "total": 12},
        {"id": "C3", "status": "open", "total": 7},
    ]
}


def run_of(nodes: list[dict[str, Any]], data: Any, slug: str = "reshape") -> Run:
    edges = [(a["id"], b["id"]) for a, b in itertools.pairwise(nodes)]
    run, _ = runs.run_start(flow=save(document(slug, nodes, edges)), input=data)
    return drive(run)


def problems(config: dict[str, Any]) -> list[tuple[str, str]]:
    doc = document("check", [node("shape", "transform", **config), node("done", "end")], [])
    doc["edges"] = [{"from": "shape", "to": "done"}]
    return [(p.pointer, p.message) for p in document_problems(doc)]


def test_a_query_on_a_templated_input_is_the_steps_output() -> None:
    run = run_of(
        [
            node(
                "open",
                "transform",
                input="{{ input }}",
                expression="orders[?status == 'open'].{id: id, total: total}",
            ),
            node("done", "end"),
        ],
        ORDERS,
    )
    assert run.status == "succeeded"
    expected = [{"id": "A1", "total": 30}, {"id": "C3", "total": 7}]
    assert Step.objects.get(run=run, node_id="open").output == expected
    assert run.output == expected


def test_without_input_it_reshapes_the_previous_steps_output() -> None:
    run = run_of(
        [
            node("open", "transform", input="{{ input }}", expression="orders[?status == 'open']"),
            node("biggest", "transform", expression="max_by(@, &total).id"),
            node("done", "end", output="{{ steps.biggest.output }}"),
        ],
        ORDERS,
    )
    assert run.status == "succeeded"
    assert Step.objects.get(run=run, node_id="biggest").output == "A1"
    assert run.output == "A1"


def test_nothing_matching_gives_null() -> None:
    run = run_of(
        [node("pick", "transform", input="{{ input }}", expression="customer.email")], ORDERS
    )
    assert run.status == "succeeded"
    assert Step.objects.get(run=run, node_id="pick").output is None


def test_it_runs_inline_and_is_listed_for_the_editor() -> None:
    assert REGISTRY["transform"].queued is False
    listed = {item["type"]: item for item in describe_all()}
    assert listed["transform"]["title"] == "Transform"
    assert listed["transform"]["config_schema"]["required"] == ["expression"]


def test_a_type_error_fails_the_step_with_a_domain_error() -> None:
    run = run_of(
        [node("count", "transform", input="{{ input }}", expression="length(orders[0].total)")],
        ORDERS,
    )
    assert run.status == "failed" and run.error_class == "domain"
    step = Step.objects.get(run=run, node_id="count")
    assert step.status == "failed"
    assert "invalid type for value: 30" in step.error


def test_a_value_built_past_the_size_bound_fails_the_step() -> None:
    # Each pipe doubles the value (its halves are shared): 2**25 leaves from 25 stages.
    doubling = " | ".join(["[@, @]"] * 25)
    run = run_of([node("grow", "transform", input="{{ input }}", expression=doubling)], ORDERS)
    assert run.status == "failed" and run.error_class == "domain"
    assert "a value it builds exceeds 1000000 characters and items" in run.error


def test_a_literal_that_is_no_json_number_fails_the_step() -> None:
    run = run_of([node("huge", "transform", expression="`1e999`")], {})
    assert run.status == "failed"
    assert "gave no JSON data: inf is not a JSON number" in run.error


def test_a_valid_query_has_no_problem() -> None:
    assert problems({"expression": "sort_by(orders, &total)[::-1] | [0].id"}) == []
    assert problems({"expression": "merge(a, b)", "input": "{{ input }}"}) == []


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("orders[", "not a valid JMESPath query at column 8: the query ends before it is complete"),
        ("orders | | id", "not a valid JMESPath query at column 10: unexpected '|'"),
        ('orders."id', 'not a valid JMESPath query at column 8: Unclosed " delimiter'),
        ("count(orders)", "unknown JMESPath function count() (known: abs, avg, ceil"),
        ("length(orders, id)", "length() takes 1 argument, given 2"),
        ("{n: merge()}", "merge() takes at least 1 argument, given 0"),
    ],
)
def test_a_query_that_cannot_run_is_a_problem_at_the_expression(
    expression: str, message: str
) -> None:
    found = problems({"expression": expression})
    assert len(found) == 1
    pointer, text = found[0]
    assert pointer == "/nodes/0/config/expression"
    assert text.startswith(message)


def test_the_config_is_checked_by_its_schema_and_templates() -> None:
    assert problems({}) == [("/nodes/0/config", "missing required field 'expression'")]
    assert problems({"expression": "a", "query": "b"}) == [
        ("/nodes/0/config/query", "unknown field 'query'")
    ]
    found = problems({"expression": "a", "input": "{{ steps.nowhere.output }}"})
    assert found == [
        ("/nodes/0/config/input", "refers to steps.nowhere, but there is no node 'nowhere'")
    ]
    assert [p for p, _ in problems({"expression": "a", "input": "{{ input. }}"})] == [
        "/nodes/0/config/input"
    ]
