"""The approval node's config: what the validator accepts and refuses (send-back rounds,
deadlines, tool calls), each problem pinned to its field."""

from __future__ import annotations

from typing import Any

import pytest

from flows.document import document_problems
from flows.graph import build
from flows.scopes import round_of
from tests.support.flows import document, node, scripted


def flow(review: dict[str, Any], *, nodes: list[Any] | None = None, edges: list[Any] | None = None):
    """draft → polish → review → send, plus ``nodes`` and ``edges``."""
    return document(
        "approval-config",
        [
            node("draft", "agent", agent="writer"),
            node("polish", "agent", agent="writer"),
            node("review", "approval", **review),
            node("send", "end"),
            *(nodes or []),
        ],
        [("draft", "polish"), ("polish", "review"), ("review", "send"), *(edges or [])],
        agents=[scripted("writer", "text")],
    )


def problems(doc: dict[str, Any]) -> list[tuple[str, str]]:
    return [(p.pointer, p.message) for p in document_problems(doc, known_tools={"send_email"})]


REVIEW = "/nodes/2/config"


def test_a_send_back_to_an_upstream_node_makes_a_round() -> None:
    doc = flow({"send_back_to": "draft", "max_send_backs": 2})
    assert problems(doc) == []
    graph, _ = build(doc)
    assert graph.round_head == {"review": "draft"}
    assert graph.round_body["review"] == {"draft", "polish"}
    assert graph.entry_scope("draft") == "~review#0"
    [to_send] = [edge for edge in graph.edges if edge.dst == "send"]
    assert graph.target_scope(to_send, "~review#3") == ""
    assert graph.send_back_scope("~review#0", "review") == "~review#1"
    assert round_of("loop#2/~review#1") == ("review", 1, "loop#2/~review#0")


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("nowhere", "send_back_to 'nowhere' is not another node here"),
        ("review", "send_back_to 'review' is not another node here"),
        ("send", "no path leads from 'send' to this approval"),
    ],
)
def test_send_back_must_name_a_node_before_the_approval(target: str, message: str) -> None:
    [(pointer, found)] = problems(flow({"send_back_to": target}))
    assert pointer == f"{REVIEW}/send_back_to"
    assert found.startswith(message)


def test_a_round_left_from_inside_is_refused() -> None:
    doc = flow({"send_back_to": "draft"}, nodes=[node("log", "end")], edges=[("polish", "log")])
    [(pointer, message)] = problems(doc)
    assert pointer == f"{REVIEW}/send_back_to"
    assert "'polish' → 'log' leaves the send-back round of 'review'" in message


def test_a_round_entered_past_its_start_is_refused() -> None:
    doc = document(
        "entered",
        [
            node("route", "router"),
            node("draft", "agent", agent="writer"),
            node("polish", "agent", agent="writer"),
            node("review", "approval", send_back_to="draft"),
        ],
        [("route", "draft"), ("route", "polish"), ("draft", "polish"), ("polish", "review")],
        agents=[scripted("writer", "text")],
    )
    [(pointer, message)] = problems(doc)
    assert pointer == "/nodes/3/config/send_back_to"
    assert "'route' → 'polish' enters the send-back round of 'review' past its start" in message


def test_a_round_crossing_a_loop_is_refused() -> None:
    doc = document(
        "crossing",
        [
            node("draft", "agent", agent="writer"),
            node("check", "agent", agent="writer"),
            node("review", "approval", send_back_to="draft"),
            node("again", "loop", until="true", max_iterations=2),
            node("done", "end"),
        ],
        [
            ("draft", "check"),
            ("check", "review"),
            ("review", "again"),
            ("again", "check"),
            ("again", "done"),
        ],
        agents=[scripted("writer", "text")],
    )
    found = problems(doc)
    assert any("crosses loop 'again'" in message for _, message in found), found


@pytest.mark.parametrize(
    ("config", "field", "message"),
    [
        ({"on_deadline": "reject"}, "on_deadline", "on_deadline needs deadline_minutes"),
        (
            {"deadline_minutes": 30, "on_deadline": "approve"},
            "on_deadline",
            "approving at the deadline approves unseen drafts: it needs allow_auto_approve: "
            "true on this node",
        ),
        (
            {"deadline_minutes": 30, "on_deadline": "escalate"},
            "escalate_to",
            "on_deadline 'escalate' needs escalate_to",
        ),
        (
            {"deadline_minutes": 30, "escalate_to": "admin"},
            "escalate_to",
            "escalate_to is used only with on_deadline 'escalate'",
        ),
        (
            {"deadline_minutes": 30, "remind_before_minutes": 30},
            "remind_before_minutes",
            "the reminder must come before the deadline",
        ),
        ({"max_send_backs": 2}, "max_send_backs", "max_send_backs needs send_back_to"),
        (
            {
                "draft": "x",
                "tool": "send_email",
                "arguments": {"to": "{{ input.to }}", "body": "x"},
            },
            "tool",
            "review either a draft or a tool call, not both",
        ),
        ({"arguments": {"to": "x"}}, "arguments", "arguments belong to a tool: name the tool"),
    ],
)
def test_config_fields_that_need_each_other_are_reported_at_the_field(
    config: dict[str, Any], field: str, message: str
) -> None:
    assert problems(flow(config)) == [(f"{REVIEW}/{field}", message)]


def test_deadline_policies_and_a_tool_call_review_are_accepted() -> None:
    for config in (
        {"deadline_minutes": 60, "on_deadline": "approve", "allow_auto_approve": True},
        {
            "deadline_minutes": 60,
            "on_deadline": "escalate",
            "escalate_to": "admin",
            "escalation_deadline_minutes": 30,
            "remind_before_minutes": 15,
        },
        {"tool": "send_email", "arguments": {"to": "{{ input.email }}", "body": "hi"}},
        {"autonomy": {"window": 10, "threshold": 0.9, "sample_one_in": 4}},
    ):
        assert problems(flow(config)) == [], config


@pytest.mark.django_db
def test_instructions_are_a_template_rendered_for_the_approver() -> None:
    from flows.engine import runs
    from flows.models import Approval
    from tests.support.flows import drive, save

    doc = flow({"title": "Review", "instructions": "Check the tone for {{ input.topic }}."})
    run, _ = runs.run_start(flow=save(doc), input={"topic": "pricing"})
    drive(run)
    assert Approval.objects.get(run=run).instructions == "Check the tone for pricing."
    broken = flow({"title": "Review", "instructions": "Check {{ steps.nowhere.output }}"})
    assert any(pointer == f"{REVIEW}/instructions" for pointer, _ in problems(broken))
