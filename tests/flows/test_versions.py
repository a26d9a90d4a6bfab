"""Comparing versions: the diff covers the whole document (name, subject, trigger, agents,
nodes, edges, policies, feedback, ROI), not only the nodes, through the domain function and
the API the editor's "Compare with" panel reads."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from django.test import Client

from controlroom.accounts import token_issue, user_ensure
from controlroom.roles import Role
from flows.versions import document_diff, flow_save, flow_version_diff
from tests.support.flows import document, launchable, node, scripted

pytestmark = pytest.mark.django_db

JSON = "application/json"


def first() -> dict[str, Any]:
    return launchable(
        document(
            "diffed",
            [
                node("write", "agent", agent="writer", prompt="Write about {{ input.topic }}"),
                node("check", "router"),
                node("done", "end", output="{{ steps.write.output }}"),
            ],
            [("write", "check"), {"from": "check", "to": "done", "when": "true"}],
            agents=[scripted("writer", "A brief."), scripted("critic", "Fine.")],
            policies=[
                {
                    "slug": "no-pay",
                    "name": "No payments",
                    "kind": "approval",
                    "verdict": "require_approval",
                    "config": {"categories": ["payment"]},
                }
            ],
        )
    )


def second() -> dict[str, Any]:
    """``first`` changed in every section."""
    doc = copy.deepcopy(first())
    doc["name"] = "Diffed again"
    doc["subject"] = "{{ input.email }}"
    doc["trigger"] = {"type": "webhook"}
    doc["agents"] = [scripted("writer", "A longer brief."), scripted("editor", "Edited.")]
    write, _check, done = doc["nodes"]
    write["config"]["prompt"] = "Write briefly about {{ input.topic }}"
    write["position"] = {"x": 500, "y": 500}  # moved: layout, not a change
    doc["nodes"] = [write, done, node("tidy", "end", output="{{ steps.write.output }}")]
    doc["edges"] = [
        {"from": "write", "to": "done", "when": "steps.write.output != ''"},
        {"from": "write", "to": "tidy"},
    ]
    doc["policies"][0]["verdict"] = "block"
    doc["feedback"] = {"outcome": "brief_sent"}
    doc["roi"] = {**doc["roi"], "baseline_minutes": 25}
    return doc


def section(diff: dict[str, Any], name: str) -> list[dict[str, Any]]:
    [found] = [s for s in diff["sections"] if s["section"] == name]
    assert found["changed"] == bool(found["changes"])
    return found["changes"]  # type: ignore[no-any-return]


def brief(changes: list[dict[str, Any]]) -> set[tuple[str, str]]:
    return {(c["change"], c["item"]) for c in changes}


def test_two_versions_differ_section_by_section() -> None:
    _, v1 = flow_save(document=first())
    _, v2 = flow_save(document=second())

    diff = flow_version_diff(base=v1, document=v2.document)

    assert diff["base"] == 1 and diff["changed"] is True
    order = [s["section"] for s in diff["sections"]]
    assert order[:10] == [
        "name", "subject", "trigger", "agents", "nodes", "edges", "policies", "feedback", "roi",
        "slug",
    ]  # fmt: skip
    assert section(diff, "name") == [
        {"change": "changed", "item": "name", "before": "Diffed", "after": "Diffed again"}
    ]
    assert brief(section(diff, "subject")) == {("changed", "subject")}
    assert section(diff, "trigger") == [
        {"change": "changed", "item": "type", "before": "manual", "after": "webhook"}
    ]
    agents = section(diff, "agents")
    assert brief(agents) == {("added", "editor"), ("removed", "critic"), ("changed", "writer")}
    assert [c["keys"] for c in agents if c["change"] == "changed"] == [["script.responses"]]
    nodes = section(diff, "nodes")
    assert brief(nodes) == {("added", "tidy"), ("removed", "check"), ("changed", "write")}
    assert [c["keys"] for c in nodes if c["change"] == "changed"] == [["config.prompt"]]
    assert brief(section(diff, "edges")) == {
        ("removed", "write -> check"),
        ("removed", "check -> done when true"),
        ("added", "write -> done when steps.write.output != ''"),
        ("added", "write -> tidy"),
    }
    policies = section(diff, "policies")
    assert policies == [{"change": "changed", "item": "no-pay", "keys": ["verdict"]}]
    assert section(diff, "feedback") == [
        {"change": "changed", "item": "outcome", "before": "task_done", "after": "brief_sent"}
    ]
    assert section(diff, "roi") == [
        {"change": "changed", "item": "baseline_minutes", "before": 10, "after": 25}
    ]
    assert section(diff, "slug") == []


def test_the_same_document_has_no_change_and_moving_a_node_is_not_one() -> None:
    moved = first()
    moved["nodes"][0]["position"] = {"x": 40, "y": 80}

    diff = document_diff(before=first(), after=moved)

    assert diff["changed"] is False
    assert all(s["changes"] == [] for s in diff["sections"])


def test_failure_paths_show_as_node_keys_and_as_edges_of_their_own() -> None:
    """``on_error`` is a node key beside ``config``; an error edge differs from a normal edge
    between the same nodes by its ``on``."""
    before = first()
    after = copy.deepcopy(before)
    after["nodes"][0]["on_error"] = "continue"
    after["edges"].append({"from": "write", "to": "done", "on": "error"})
    after["edges"][0]["on"] = "success"

    diff = document_diff(before=before, after=after)

    assert section(diff, "nodes") == [{"change": "changed", "item": "write", "keys": ["on_error"]}]
    assert brief(section(diff, "edges")) == {
        ("removed", "write -> check"),
        ("added", "write -> check"),  # the same edge, now saying "on": "success"
        ("added", "write -> done on error"),
    }
    added = [c["after"] for c in section(diff, "edges") if c["change"] == "added"]
    assert {"from": "write", "to": "done", "on": "error"} in added


def test_a_diff_takes_any_json_without_raising() -> None:
    odd: Any = {"nodes": "three", "edges": [1, 1, {"from": "a"}], "trigger": 5, "agents": [None]}

    diff = document_diff(before=first(), after=odd)

    assert section(diff, "nodes") == [
        {"change": "changed", "item": "nodes", "before": first()["nodes"], "after": "three"}
    ]
    assert {c["change"] for c in section(diff, "edges")} == {"added", "removed"}
    assert document_diff(before=None, after=[])["sections"] == []


# --- the API ----------------------------------------------------------------------------------


@pytest.fixture
def viewer() -> Client:
    user = user_ensure(username="viewer", role=Role.VIEWER)
    return Client(HTTP_AUTHORIZATION=f"Bearer {token_issue(user=user)}")


def test_the_api_compares_two_saved_versions(viewer: Client) -> None:
    flow_save(document=first())
    flow_save(document=second())

    answer = viewer.get("/api/flows/diffed/diff?base=1&version=2")

    assert answer.status_code == 200, answer.content
    body = answer.json()
    assert body["base"] == 1 and body["changed"] is True
    changed = {s["section"] for s in body["sections"] if s["changed"]}
    assert changed == {
        "name", "subject", "trigger", "agents", "nodes", "edges", "policies", "feedback", "roi",
    }  # fmt: skip


def test_the_api_compares_a_draft_with_a_saved_version(viewer: Client) -> None:
    flow_save(document=first())
    draft = first()
    draft["edges"].append({"from": "write", "to": "done", "on": "error"})

    answer = viewer.post("/api/flows/diffed/diff?base=1", json.dumps(draft), content_type=JSON)

    assert answer.status_code == 200, answer.content
    edges = section(answer.json(), "edges")
    assert [(c["change"], c["item"]) for c in edges] == [("added", "write -> done on error")]


@pytest.mark.parametrize(
    ("method", "url", "status"),
    [
        ("get", "/api/flows/diffed/diff?base=7", 404),
        ("get", "/api/flows/nowhere/diff?base=1", 404),
        ("get", "/api/flows/diffed/diff", 422),
        ("get", "/api/flows/diffed/diff?base=one", 422),
        ("post", "/api/flows/diffed/diff?base=1", 400),
    ],
)
def test_a_bad_comparison_is_a_4xx_with_a_message(
    viewer: Client, method: str, url: str, status: int
) -> None:
    flow_save(document=first())

    if method == "post":
        answer = viewer.post(url, "{not json", content_type=JSON)
    else:
        answer = viewer.get(url)

    assert answer.status_code == status, answer.content
    assert answer.json()["error"]["message"]
