"""Failure paths in the flow editor, in a real Chromium against the real stack: a designer drags
an error edge from a node's red error handle, sets "On error: continue" on another node, saves,
and the exported document carries both (``"on": "error"`` on the edge, ``on_error`` beside the
node's ``config``); loading it again shows them; the validator's word on them lands on the right
node or edge."""

from __future__ import annotations

import json
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from controlroom.roles import Role
from flows.models import Flow
from flows.versions import flow_save
from tests.e2e.test_editor import (
    AXE_RUN,
    STARTER,
    canvas_node,
    connect,
    drag_from_palette,
    expect_no_problems,
    expect_validated,
    log_in,
    shoot,
)
from tests.support.browser import axe_inject
from tests.support.stack import AsgiServer, ManagedProcess

pytestmark = pytest.mark.django_db(transaction=True)

GUARDED: dict[str, Any] = {
    **STARTER,
    "slug": "guarded-note",
    "name": "Guarded note",
    "nodes": [
        {
            "id": "write",
            "type": "agent",
            "config": {"agent": "writer", "prompt": "Write about {{ input.topic }}"},
            "position": {"x": 0, "y": 0},
        },
        {
            "id": "polish",
            "type": "agent",
            "config": {"agent": "writer", "prompt": "Polish {{ steps.write.output }}"},
            "position": {"x": 280, "y": 0},
        },
        {"id": "done", "type": "end", "position": {"x": 560, "y": 0}},
    ],
    "edges": [{"from": "write", "to": "polish"}, {"from": "polish", "to": "done"}],
}


@pytest.fixture
def stack(
    asgi_server: AsgiServer, celery_worker: ManagedProcess, celery_beat: ManagedProcess
) -> AsgiServer:
    """The web server, a worker and beat (as tests/e2e/test_editor.py's ``stack``)."""
    return asgi_server


@pytest.fixture
def guarded() -> Flow:
    flow, _ = flow_save(document=json.loads(json.dumps(GUARDED)))
    return flow


def canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def exported(page: Page, base: str, slug: str, version: int) -> dict[str, Any]:
    answer = page.request.get(f"{base}/api/flows/{slug}/export?version={version}")
    assert answer.ok, answer.text()
    return answer.json()  # type: ignore[no-any-return]


def test_a_designer_adds_an_error_edge_and_continue_on_error_and_saves_both(
    page: Page,
    stack: AsgiServer,
    guarded: Flow,
) -> None:
    page.set_viewport_size({"width": 1440, "height": 900})
    log_in(page, stack.url, "dee", Role.DESIGNER)
    page.goto(f"{stack.url}/flows/{guarded.slug}/edit/")
    expect_no_problems(page)
    # Every node has a second source handle: the red error handle.
    expect(page.locator(".react-flow__handle.source.handle-error")).to_have_count(3)

    # A node to handle write's failure, then a drag from write's error handle to it: an error
    # edge, drawn dashed red and labelled "on error".
    drag_from_palette(page, "end", 250, 420)
    expect(canvas_node(page, "end_1")).to_be_visible()
    connect(page, "write", "end_1", handle="error")
    error_edge = page.locator(".react-flow__edge.edge-error")
    expect(error_edge).to_have_count(1)
    expect(error_edge).to_contain_text("on error")
    expect(page.locator(".react-flow__edge")).to_have_count(3)
    expect(page.locator(".react-flow__edge.edge-error")).to_have_count(1)

    # polish: "On error" -> continue, at node level.
    canvas_node(page, "polish").click()
    page.locator(".node-panel details.field-advanced summary").click()  # "On error" is advanced
    on_error = page.get_by_label("On error")
    expect(on_error).to_have_value("fail")
    on_error.select_option(label="Continue with the error as output")
    expect(canvas_node(page, "polish").locator(".step-node")).to_have_attribute(
        "data-on-error", "continue"
    )
    expect(canvas_node(page, "polish")).to_contain_text("on error: continue")
    expect_no_problems(page)
    shoot(page, "error-paths-1-drawn")

    page.get_by_role("button", name="Save draft").click()
    expect(page.locator(".editor-status")).to_have_text("Saved as version 2.")

    document = exported(page, stack.url, guarded.slug, 2)
    assert {"from": "write", "to": "end_1", "on": "error"} in document["edges"]
    assert [e for e in document["edges"] if e.get("on")] == [
        {"from": "write", "to": "end_1", "on": "error"}
    ]
    polish = next(n for n in document["nodes"] if n["id"] == "polish")
    assert polish["on_error"] == "continue"
    assert "on_error" not in polish["config"]
    assert all("on_error" not in n for n in document["nodes"] if n["id"] != "polish")
    # Nothing else changed: the document is the first version plus the two failure paths.
    expected = json.loads(json.dumps(GUARDED))
    expected["nodes"].append(next(n for n in document["nodes"] if n["id"] == "end_1"))
    expected["edges"].append({"from": "write", "to": "end_1", "on": "error"})
    expected["nodes"][1]["on_error"] = "continue"
    assert {**document, "edges": sorted(map(canonical, document["edges"]))} == {
        **expected,
        "edges": sorted(map(canonical, expected["edges"])),
    }

    # Compared with version 1, the diff names both, each in its own section.
    page.get_by_label("Compare with").select_option("1")
    diff = page.get_by_role("region", name="Changes since version 1")
    expect(diff.locator('[data-section="nodes"] li')).to_have_text(
        ["end_1 added", "polish changed: on_error"]
    )
    expect(diff.locator('[data-section="edges"] li')).to_have_text(["write → end_1 on error added"])
    page.get_by_label("Compare with").select_option("")

    # Loading the saved version again shows both; saving it unchanged gives them back as they were.
    page.reload()
    expect_no_problems(page)
    expect(page.locator(".react-flow__edge.edge-error")).to_have_count(1)
    canvas_node(page, "polish").click()
    expect(page.get_by_label("On error")).to_have_value("continue")
    page.locator(".react-flow__edge.edge-error").click(force=True)
    expect(page.get_by_label("Taken")).to_have_value("error")
    shoot(page, "error-paths-2-reloaded")
    axe_inject(page)
    assert page.evaluate(AXE_RUN) == []


def test_the_validator_pins_a_refused_error_edge_on_that_edge(
    page: Page,
    stack: AsgiServer,
    guarded: Flow,
) -> None:
    """A node type that cannot route errors (``parallel``) has no error handle; an edge switched
    to "on error" in the edge panel is flagged on that edge, and switching it back clears it."""
    doc = json.loads(json.dumps(GUARDED))
    doc["nodes"].append({"id": "fan", "type": "parallel", "position": {"x": -280, "y": 0}})
    doc["edges"].append({"from": "fan", "to": "write"})
    flow_save(document=doc)
    page.set_viewport_size({"width": 1440, "height": 900})
    log_in(page, stack.url, "dee", Role.DESIGNER)
    page.goto(f"{stack.url}/flows/{guarded.slug}/edit/")
    expect_no_problems(page)
    expect(canvas_node(page, "fan").locator(".react-flow__handle.handle-error")).to_have_count(0)
    expect(canvas_node(page, "write").locator(".react-flow__handle.handle-error")).to_have_count(1)

    page.locator('.react-flow__edge[aria-label="Edge from fan to write"]').click(force=True)
    expect(page.get_by_role("heading", name="Edge fan → write")).to_be_visible()
    page.get_by_label("Taken").select_option("error")
    expect_validated(page)
    problems = page.locator(".problem-list")
    expect(problems).to_contain_text("/edges/2/on")
    expect(page.locator(".react-flow__edge.edge-problem")).to_have_count(1)
    page.get_by_label("Taken").select_option("")
    expect_no_problems(page)
