"""The flow editor island against the real stack: uvicorn (ASGI + Channels over Redis), a Celery
worker and beat, and Chromium. A designer builds a flow by dragging from the palette and
connecting handles, watches the API's validator flag and clear a problem, saves and publishes,
then test-runs the draft and sees the nodes turn green over the websocket."""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from playwright.sync_api import APIResponse, Locator, Page, Route, expect

from controlroom.accounts import user_ensure
from controlroom.roles import Role
from flows.engine.nodes import REGISTRY
from flows.models import Flow, Run
from flows.states import RunStatus
from flows.versions import flow_save
from tests.support.approvals import shown
from tests.support.browser import axe_inject
from tests.support.stack import AsgiServer, ManagedProcess
from tests.support.wait import stays, wait_for

# committed rows: the web server and worker processes read them through their own connections
pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parents[2]
# Outside test-results/, which pytest-playwright empties; look at them after a run.
SHOTS = Path(tempfile.gettempdir()) / "controlroom-editor-shots"
PASSWORD = "correct-horse-battery"
PATIENCE_MS = 30_000
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
AXE_RUN = """async () => {
  const result = await axe.run(document.querySelector('#main'), {
    runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']},
  });
  return result.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.slice(0, 5).map(n => n.target.join(' '))}));
}"""

# One scripted writer (the offline model) and a placeholder the designer replaces.
STARTER: dict[str, Any] = {
    "schema": "controlroom.flow/v1",
    "slug": "press-note",
    "name": "Press note",
    "trigger": {"type": "manual"},
    "sample_input": {"topic": "editor"},
    # Outcomes find their run by subject: a flow measured by an outcome needs one to go live.
    "subject": "{{ input.topic }}",
    "agents": [
        {
            "slug": "writer",
            "role": "Write a short note",
            "provider": "scripted",
            "script": {"latency_ms": 150, "responses": ["A note about {{ input.topic }}."]},
        }
    ],
    "nodes": [{"id": "placeholder", "type": "end", "position": {"x": 0, "y": 0}}],
    "edges": [],
    "feedback": {"outcome": "note_published"},
    "roi": {"baseline_minutes": 15, "hourly_cost": 40, "success_outcome": "note_published"},
}


def write_then_end(prompt: str) -> dict[str, Any]:
    """The smallest runnable graph: node `write` (agent `writer`) into an end node."""
    return {
        "nodes": [
            {
                "id": "write",
                "type": "agent",
                "config": {"agent": "writer", "prompt": prompt},
                "position": {"x": 0, "y": 0},
            },
            {"id": "done", "type": "end", "position": {"x": 260, "y": 0}},
        ],
        "edges": [{"from": "write", "to": "done"}],
    }


@pytest.fixture
def stack(
    asgi_server: AsgiServer, celery_worker: ManagedProcess, celery_beat: ManagedProcess
) -> AsgiServer:
    assert (ROOT / "static" / "editor" / "editor.js").exists(), "run `make assets` first"
    return asgi_server


@pytest.fixture
def starter() -> Flow:
    flow, _ = flow_save(document=json.loads(json.dumps(STARTER)))
    return flow


def log_in(page: Page, base: str, username: str, role: Role) -> None:
    user_ensure(username=username, role=role, password=PASSWORD)
    page.goto(f"{base}/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{base}/")


def canvas_node(page: Page, node_id: str) -> Locator:
    return page.locator(f'.react-flow__node[data-id="{node_id}"]')


def drag_from_palette(page: Page, kind: str, x: int, y: int) -> None:
    """A real HTML5 drag of a palette entry to a point of the canvas (relative to its box).

    Waits for the validator first: its answer can add a line to the toolbar (what blocks
    publishing), which moves the palette down under a pointer already aimed at an entry
    (seen: a drag of "loop" dropped the "map" above it)."""
    expect_validated(page)
    page.locator(f'.palette-item[data-node-type="{kind}"]').drag_to(
        page.locator(".react-flow__pane"), target_position={"x": x, "y": y}
    )


def expect_validated(page: Page) -> None:
    """Wait for the validator's answer to the document now on the canvas: the editor renders the
    problems count (``[data-count]``) only for that answer, not while checking."""
    expect(page.locator(".editor-problems [data-count]")).to_be_visible()


def connect(page: Page, source: str, target: str, *, handle: str = "next") -> None:
    """Press on the source node's right handle (``handle="error"``: its red error handle at the
    bottom) and release on the target node's left one. Waits for the validator first: the
    problems it pins on nodes change their height, so their handles would move under the
    pointer. React Flow learns where handles are from a ResizeObserver, after the render: on a
    busy machine a drag can end before it has, and no edge is made; such a drag is made again
    (once), a drag that made its edge never is."""
    edges = page.locator(".react-flow__edge")
    before = edges.count()
    for attempt in range(2):
        _drag_handle(page, source, target, handle)
        try:
            expect(edges).to_have_count(before + 1, timeout=3_000 if attempt == 0 else 5_000)
            return
        except AssertionError:
            if attempt == 1:
                raise


def _drag_handle(page: Page, source: str, target: str, handle: str) -> None:
    expect_validated(page)
    kind = ".handle-error" if handle == "error" else ":not(.handle-error)"
    start = canvas_node(page, source).locator(f".react-flow__handle.source{kind}").bounding_box()
    end = canvas_node(page, target).locator(".react-flow__handle.target").bounding_box()
    assert start and end
    page.mouse.move(start["x"] + start["width"] / 2, start["y"] + start["height"] / 2)
    page.mouse.down()
    page.mouse.move(end["x"] + 4, end["y"] + 4, steps=8)
    page.mouse.move(end["x"] + end["width"] / 2, end["y"] + end["height"] / 2, steps=4)
    page.mouse.up()


def expect_no_problems(page: Page, timeout: float | None = None) -> None:
    """Wait for the validator's answer to the document now on the canvas, and for it to find no
    problem. The editor renders ``[data-valid]`` and the problems count only for that answer (not
    while checking, not for an earlier document), so this cannot pass on the state before the
    last change."""
    problems = page.locator(".editor-problems")
    expect(problems.locator("[data-valid]")).to_be_visible(timeout=timeout)
    expect(problems.locator("[data-count]")).to_have_attribute("data-count", "0")


def shoot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"))


def test_a_designer_builds_validates_publishes_and_test_runs_a_flow(
    page: Page, stack: AsgiServer, starter: Flow
) -> None:
    page.set_viewport_size({"width": 1440, "height": 900})
    log_in(page, stack.url, "dee", Role.DESIGNER)
    page.goto(f"{stack.url}/flows/{starter.slug}/")
    page.get_by_role("link", name="Edit", exact=True).click()
    expect(page).to_have_url(f"{stack.url}/flows/{starter.slug}/edit/")
    # Every node type of the registry (GET /api/node-types), none named by the editor itself.
    expect(page.locator(".palette-item")).to_have_count(len(REGISTRY))
    expect(canvas_node(page, "placeholder")).to_be_visible()

    # Replace the placeholder: select it and delete it.
    canvas_node(page, "placeholder").click()
    page.get_by_role("button", name="Delete node").click()
    expect(canvas_node(page, "placeholder")).to_have_count(0)

    # Drag three nodes in; a fresh agent has no agent yet, which the validator reports on it.
    drag_from_palette(page, "agent", 150, 200)
    expect(canvas_node(page, "agent_1")).to_be_visible()
    expect(canvas_node(page, "agent_1").locator(".step-node")).to_have_attribute(
        "data-problems", "1"
    )
    problems = page.locator(".problem-list")
    expect(problems).to_contain_text("/nodes/0/config")
    expect(problems).to_contain_text("agent")
    shoot(page, "1-validation-error")
    drag_from_palette(page, "agent", 400, 200)
    drag_from_palette(page, "end", 650, 200)
    expect(page.locator(".react-flow__node")).to_have_count(3)

    connect(page, "agent_1", "agent_2")
    connect(page, "agent_2", "end_1")
    shoot(page, "1b-connected")
    expect(page.locator(".react-flow__edge")).to_have_count(2)

    # Configure both agents from the generated panel; the problems clear as the user types.
    for node_id in ("agent_1", "agent_2"):
        canvas_node(page, node_id).click()
        expect(page.get_by_label("Node id")).to_have_value(node_id)
        page.get_by_label("Agent", exact=True).fill("writer")
        page.get_by_label("Prompt", exact=True).fill("Write about {{ input.topic }}")
    expect_no_problems(page)
    expect(canvas_node(page, "agent_1").locator(".step-node")).to_have_attribute(
        "data-problems", "0"
    )
    expect(canvas_node(page, "agent_1")).to_contain_text("agent: writer")
    shoot(page, "2-configured")

    # Save a draft (a new immutable version), then publish it.
    page.get_by_role("button", name="Save draft").click()
    expect(page.locator(".editor-status")).to_have_text("Saved as version 2.")
    page.get_by_role("button", name="Publish", exact=True).click()
    expect(page.locator(".editor-status")).to_have_text("Version 2 is live.")
    starter.refresh_from_db()
    assert starter.live_version is not None and starter.live_version.number == 2
    saved = starter.live_version.document
    assert [n["id"] for n in saved["nodes"]] == ["agent_1", "agent_2", "end_1"]
    assert [(e["from"], e["to"]) for e in saved["edges"]] == [
        ("agent_1", "agent_2"),
        ("agent_2", "end_1"),
    ]
    assert saved["nodes"][0]["config"]["agent"] == "writer"
    assert all("position" in n for n in saved["nodes"])

    # Test-run the draft with sample input; the nodes turn green live over the websocket.
    page.get_by_label("Sample input (JSON)").fill('{"topic": "node editors"}')
    page.get_by_role("button", name="Run draft").click()
    for node_id in ("agent_1", "agent_2", "end_1"):
        expect(canvas_node(page, node_id).locator(".step-node")).to_have_attribute(
            "data-state", "succeeded", timeout=PATIENCE_MS
        )
    expect(page.locator("[data-run-status]")).to_have_attribute(
        "data-run-status", "succeeded", timeout=PATIENCE_MS
    )
    run = Run.objects.get()
    assert run.status == RunStatus.SUCCEEDED and run.version.number == 2

    # Clicking a node shows its step: input, output, tokens and cost.
    canvas_node(page, "agent_2").click()
    step = page.get_by_role("region", name="Step of the test run")
    expect(step).to_contain_text("succeeded")
    expect(step).to_contain_text("A note about node editors.")
    expect(step).to_contain_text("tokens")
    shoot(page, "3-run-green")

    # Change a node, then compare with the published version: the change is highlighted.
    page.get_by_label("Prompt", exact=True).fill("Write briefly about {{ input.topic }}")
    page.get_by_label("Compare with").select_option("2")
    diff = page.get_by_role("region", name="Changes since version 2")
    expect(diff.locator('[data-section="nodes"] li[data-diff="changed"]')).to_have_text(
        "agent_2 changed: config.prompt"
    )
    expect(diff.locator("[data-section]")).to_have_count(1)
    expect(canvas_node(page, "agent_2").locator(".step-node")).to_have_attribute(
        "data-diff", "changed"
    )
    expect(canvas_node(page, "agent_1").locator(".step-node")).not_to_have_attribute(
        "data-diff", re.compile(".")
    )
    # Against version 1 the whole chain is new and the placeholder is gone (drawn as a ghost).
    page.get_by_label("Compare with").select_option("1")
    diff = page.get_by_role("region", name="Changes since version 1")
    nodes = diff.locator('[data-section="nodes"]')
    expect(nodes.locator('li[data-diff="added"]')).to_have_count(3)
    expect(nodes.locator('li[data-diff="removed"]')).to_have_text("placeholder removed")
    expect(diff.locator('[data-section="edges"] li[data-diff="added"]')).to_have_count(2)
    expect(page.locator('.react-flow__node[data-id="removed:placeholder"]')).to_be_visible()
    shoot(page, "5-diff")

    assert AXE.exists()
    axe_inject(page)
    assert page.evaluate(AXE_RUN) == []


# One slow agent step: a test run's first refresh is answered while the step is still running.
SLOW: dict[str, Any] = {
    **STARTER,
    "slug": "slow-note",
    "name": "Slow note",
    "agents": [{**STARTER["agents"][0], "script": {"latency_ms": 1500, "responses": ["A note."]}}],
    **write_then_end("Write"),
}


def test_a_late_answer_to_an_early_refresh_does_not_roll_the_test_run_back(
    page: Page, stack: AsgiServer
) -> None:
    """Refreshes of a test run may overlap and, under ASGI, be answered out of order; once the run
    has ended no event corrects the canvas, so an older answer arriving last must be dropped."""
    flow, _ = flow_save(document=json.loads(json.dumps(SLOW)))
    held: list[Route] = []
    early: list[APIResponse] = []

    def hold_the_first_answer(route: Route) -> None:
        if held:  # (marked before fetching: handlers of overlapping requests interleave)
            route.continue_()
            return
        held.append(route)
        early.append(route.fetch())  # the run as it is now, delivered later

    page.route(re.compile(r"/api/runs/[0-9a-f-]+$"), hold_the_first_answer)
    log_in(page, stack.url, "dee", Role.DESIGNER)
    page.goto(f"{stack.url}/flows/{flow.slug}/edit/")
    page.get_by_role("button", name="Run draft").click()
    run_status = page.locator("[data-run-status]")
    expect(run_status).to_have_attribute("data-run-status", "succeeded", timeout=PATIENCE_MS)
    for node_id in ("write", "done"):
        expect(canvas_node(page, node_id).locator(".step-node")).to_have_attribute(
            "data-state", "succeeded"
        )

    assert len(held) == len(early) == 1
    assert early[0].json()["status"] != "succeeded"
    with page.expect_response(re.compile(r"/api/runs/[0-9a-f-]+$")):
        held[0].fulfill(response=early[0])
    stays(  # the page would apply the stale answer within this watch, were it applied
        lambda: run_status.get_attribute("data-run-status") == "succeeded",
        seconds=0.3,
        message="the newer run status",
    )
    expect(run_status).to_have_attribute("data-run-status", "succeeded")
    for node_id in ("write", "done"):
        expect(canvas_node(page, node_id).locator(".step-node")).to_have_attribute(
            "data-state", "succeeded"
        )


def test_undo_redo_copy_paste_and_auto_layout(page: Page, stack: AsgiServer, starter: Flow) -> None:
    log_in(page, stack.url, "dee", Role.DESIGNER)
    page.goto(f"{stack.url}/flows/{starter.slug}/edit/")
    expect(canvas_node(page, "placeholder")).to_be_visible()
    drag_from_palette(page, "loop", 300, 200)
    expect(page.locator(".react-flow__node")).to_have_count(2)
    page.get_by_role("button", name="Undo").click()
    expect(page.locator(".react-flow__node")).to_have_count(1)
    page.get_by_role("button", name="Redo").click()
    expect(canvas_node(page, "loop_1")).to_be_visible()

    canvas_node(page, "loop_1").click()
    page.locator(".react-flow__pane").focus()
    page.keyboard.press("Control+c")
    page.keyboard.press("Control+v")
    expect(canvas_node(page, "loop_2")).to_be_visible()

    # Drag the copy aside, then close a loop: the back-edge is drawn distinctly.
    expect_validated(page)  # its problems, once pinned, change its height
    box = canvas_node(page, "loop_2").bounding_box()
    assert box
    page.mouse.move(box["x"] + 60, box["y"] + 20)
    page.mouse.down()
    page.mouse.move(box["x"] + 320, box["y"] + 20, steps=10)
    page.mouse.up()
    connect(page, "loop_1", "loop_2")
    connect(page, "loop_2", "loop_1")
    expect(page.locator(".react-flow__edge")).to_have_count(2)
    expect(page.locator(".react-flow__edge.edge-back")).to_have_count(1)

    shoot(page, "4-loop")
    page.get_by_role("button", name="Auto layout").click()

    def left_to_right() -> bool:  # once the fit-view animation after the layout has run
        first = canvas_node(page, "loop_1").bounding_box()
        second = canvas_node(page, "loop_2").bounding_box()
        return bool(first and second and second["x"] > first["x"])

    wait_for(left_to_right, timeout=10, message="loop_2 laid out right of loop_1")


def test_a_viewer_sees_the_canvas_read_only(page: Page, stack: AsgiServer, starter: Flow) -> None:
    log_in(page, stack.url, "vic", Role.VIEWER)
    page.goto(f"{stack.url}/flows/{starter.slug}/edit/")
    expect(canvas_node(page, "placeholder")).to_be_visible()
    expect(page.get_by_text("Read-only: your role may view this flow.")).to_be_visible()
    expect(page.get_by_role("button", name="Save draft")).to_have_count(0)
    expect(page.locator('.palette-item[data-node-type="agent"]')).to_be_disabled()
    canvas_node(page, "placeholder").click()
    expect(page.get_by_role("button", name="Delete node")).to_have_count(0)


def test_one_click_on_a_template_card_opens_its_copy_in_the_editor(
    page: Page, stack: AsgiServer
) -> None:
    Flow.objects.get_or_create(slug="churn-risk-save", defaults={"name": "Taken"})
    log_in(page, stack.url, "dee", Role.DESIGNER)
    page.goto(f"{stack.url}/flows/new/")
    card = page.locator('[data-template="churn-risk-save"]')
    expect(card.get_by_text("Human approval")).to_be_visible()
    shoot(page, "6a-gallery")
    card.get_by_role("button", name="Use this template").click()

    # The template's graph under the template's name and a slug made unique; nothing saved.
    expect(page.locator(".react-flow__node")).to_have_count(7)
    expect_no_problems(page)
    page.get_by_role("button", name="Save draft").click()
    expect(page.locator(".editor-status")).to_have_text("Saved as version 1.")
    expect(page).to_have_url(f"{stack.url}/flows/churn-risk-save-2/edit/")
    assert Flow.objects.get(slug="churn-risk-save-2").name == "Churn risk save"


def test_a_copy_whose_slug_was_taken_meanwhile_is_not_saved_over_that_flow(
    page: Page, stack: AsgiServer
) -> None:
    log_in(page, stack.url, "dee", Role.DESIGNER)
    page.goto(f"{stack.url}/flows/new/")
    page.locator('[data-template="lead-to-meeting"]').get_by_role(
        "button", name="Use this template"
    ).click()
    expect(page.locator(".react-flow__node").first).to_be_visible()
    # Another designer takes the slug while this copy is still unsaved.
    flow_save(document={**STARTER, "slug": "lead-to-meeting", "name": "Someone else's"})

    page.get_by_role("button", name="Save draft").click()
    expect(page.locator(".editor-status")).to_contain_text("Not saved: a flow with the slug")
    assert Flow.objects.get(slug="lead-to-meeting").versions.count() == 1
    assert Flow.objects.get(slug="lead-to-meeting").name == "Someone else's"


def test_a_designer_starts_a_flow_from_the_templates_gallery(page: Page, stack: AsgiServer) -> None:
    log_in(page, stack.url, "dee", Role.DESIGNER)
    page.goto(f"{stack.url}/flows/")
    page.get_by_role("link", name="New flow").click()
    page.get_by_text("Choose the name and slug yourself").click()
    page.get_by_label("Template", exact=True).select_option("content-pipeline")
    page.get_by_label("Name").fill("Weekly essay")
    page.get_by_label("Slug").fill("weekly-essay")
    page.get_by_role("button", name="Open in the editor").click()

    # The demo's graph, its auditor loop drawn as a back-edge; nothing saved yet.
    expect(page.locator(".react-flow__node")).to_have_count(6)
    expect(page.locator(".react-flow__edge.edge-back")).to_have_count(1)
    expect_no_problems(page)
    assert not Flow.objects.filter(slug="weekly-essay").exists()
    shoot(page, "6-from-template")

    page.get_by_role("button", name="Save draft").click()
    expect(page.locator(".editor-status")).to_have_text("Saved as version 1.")
    expect(page).to_have_url(f"{stack.url}/flows/weekly-essay/edit/")
    flow = Flow.objects.get(slug="weekly-essay")
    assert flow.name == "Weekly essay"
    assert flow.versions.get().document["nodes"][0]["id"] == "strategy"


# Runs on an agent, but nothing reports back and nobody said what a case is worth.
NOT_LAUNCHABLE: dict[str, Any] = {
    "schema": "controlroom.flow/v1",
    "slug": "triage-note",
    "name": "Triage note",
    "trigger": {"type": "manual"},
    "agents": [{"slug": "writer", "provider": "scripted", "script": {"responses": ["ok"]}}],
    **write_then_end("hi"),
}


def launch_item(page: Page, key: str) -> Locator:
    return page.locator(f'[data-launch-item="{key}"]')


def test_the_launch_checklist_gates_publishing_and_leads_to_what_is_missing(
    page: Page, stack: AsgiServer
) -> None:
    flow, _ = flow_save(document=json.loads(json.dumps(NOT_LAUNCHABLE)))
    page.set_viewport_size({"width": 1440, "height": 900})
    log_in(page, stack.url, "dee", Role.DESIGNER)
    page.goto(f"{stack.url}/flows/{flow.slug}/edit/")

    for key, ok in (
        ("trigger", "true"),
        ("action", "true"),
        ("feedback", "false"),
        ("roi", "false"),
    ):
        expect(launch_item(page, key)).to_have_attribute("data-ok", ok)
    publish = page.get_by_role("button", name="Publish", exact=True)
    expect(publish).to_be_disabled()
    expect(page.locator("#publish-blocked")).to_have_text("Not launchable: Feedback, ROI missing")
    shoot(page, "7-launch-missing")

    # Each missing item leads to the field where it is filled in.
    launch_item(page, "roi").get_by_role("button").click()
    expect(page.get_by_label(re.compile(r"^Baseline minutes per case"))).to_be_focused()
    page.get_by_label(re.compile(r"^Baseline minutes per case")).fill("12")
    expect(launch_item(page, "roi")).to_contain_text("hourly_cost")
    page.get_by_label("Hourly cost of that work").fill("45")
    page.get_by_label(re.compile(r"^Success outcome")).fill("note_sent")
    expect(launch_item(page, "roi")).to_have_attribute("data-ok", "true")
    # Success is now an outcome, reported by subject: feedback first asks for a subject.
    expect(launch_item(page, "feedback")).to_contain_text("no subject")
    launch_item(page, "feedback").get_by_role("button").click()
    subject = page.get_by_label(re.compile(r"^Subject"))
    expect(subject).to_be_focused()
    subject.fill("{{ input.topic }}")
    expect(launch_item(page, "feedback")).not_to_contain_text("no subject")
    launch_item(page, "feedback").get_by_role("button").click()
    outcome = page.get_by_label(re.compile(r"^Feedback: outcome metric"))
    expect(outcome).to_be_focused()
    outcome.fill("note_sent")
    expect(launch_item(page, "feedback")).to_have_attribute("data-ok", "true")
    # An ok item leads to its node: the action item selects the first agent node.
    launch_item(page, "action").get_by_role("button").click()
    expect(page.get_by_label("Node id")).to_have_value("write")

    expect(page.locator("#publish-blocked")).to_have_count(0)
    expect(publish).to_be_enabled()
    shoot(page, "8-launch-ready")
    publish.click()
    expect(page.locator(".editor-status")).to_have_text("Version 2 is live.")
    flow.refresh_from_db()
    assert flow.live_version is not None
    assert flow.live_version.document["roi"] == {
        "baseline_minutes": 12,
        "hourly_cost": 45,
        "success_outcome": "note_sent",
    }
    assert flow.live_version.document["feedback"] == {"outcome": "note_sent"}
    assert flow.live_version.document["subject"] == "{{ input.topic }}"

    axe_inject(page)
    assert page.evaluate(AXE_RUN) == []


def test_a_designer_imports_yaml_and_sees_where_bad_yaml_breaks(
    page: Page, stack: AsgiServer, starter: Flow
) -> None:
    log_in(page, stack.url, "dee", Role.DESIGNER)
    page.goto(f"{stack.url}/flows/{starter.slug}/edit/")
    expect(canvas_node(page, "placeholder")).to_be_visible()
    picker = page.locator('input[type="file"]')
    picker.set_input_files(
        {
            "name": "broken.yaml",
            "mimeType": "application/yaml",
            "buffer": b"nodes:\n  - id: a\n   type: end\n",
        }
    )
    expect(page.locator(".editor-status")).to_contain_text("Could not import broken.yaml")
    expect(page.locator(".editor-status")).to_contain_text("line 3, column 4")

    imported = {
        **NOT_LAUNCHABLE,
        "roi": {"baseline_minutes": 5, "hourly_cost": 30, "success_outcome": "x"},
    }
    picker.set_input_files(
        {
            "name": "triage.yaml",
            "mimeType": "application/yaml",
            "buffer": yaml.safe_dump(imported).encode(),
        }
    )
    expect(page.locator(".editor-status")).to_have_text("Imported triage.yaml; save to keep it.")
    expect(canvas_node(page, "write")).to_be_visible()
    expect(page.get_by_label(re.compile(r"^Baseline minutes per case"))).to_have_value("5")
    page.get_by_role("button", name="Save draft").click()
    expect(page.locator(".editor-status")).to_have_text("Saved as version 2.")
    saved = starter.versions.get(number=2).document
    assert saved["roi"] == imported["roi"] and saved["slug"] == starter.slug
    assert [n["id"] for n in saved["nodes"]] == ["write", "done"]


def test_template_and_condition_fields_preview_against_the_sample_input(
    page: Page, stack: AsgiServer, starter: Flow
) -> None:
    log_in(page, stack.url, "dee", Role.DESIGNER)
    page.goto(f"{stack.url}/flows/{starter.slug}/edit/")
    expect(canvas_node(page, "placeholder")).to_be_visible()
    drag_from_palette(page, "loop", 300, 200)
    canvas_node(page, "loop_1").click()

    until = page.get_by_label("Stop when")
    until.fill('input.topic == "editor"')
    described = (until.get_attribute("aria-describedby") or "").split()
    preview = page.locator(f'[id="{next(i for i in described if i.endswith("-preview"))}"]')
    expect(preview).to_have_text("Preview with the sample input: true")
    page.locator(".node-panel details.field-advanced summary").click()  # escalation is advanced
    page.get_by_label("Escalation title").fill("Stuck on {{ input.topic | upper }}")
    expect(page.locator("output.field-preview").last).to_have_text(
        "Preview with the sample input: Stuck on EDITOR"
    )
    # The sample input drives it; a broken expression says why instead.
    page.get_by_label("Sample input (JSON)").fill('{"topic": "pricing"}')
    expect(preview).to_have_text("Preview with the sample input: false")
    until.fill("input.topic ==")
    expect(preview).to_have_attribute("data-preview", "error")
    expect(preview).to_contain_text("Cannot preview")


LIVE_FLOW: dict[str, Any] = {
    **STARTER,
    "slug": "signed-note",
    "name": "Signed note",
    "nodes": [
        {"id": "write", "type": "agent", "config": {"agent": "writer", "prompt": "Note"}},
        {
            "id": "review",
            "type": "approval",
            "config": {"title": "Sign", "draft": "{{ steps.write.output }}"},
        },
        {"id": "done", "type": "end"},
    ],
    "edges": [{"from": "write", "to": "review"}, {"from": "review", "to": "done"}],
}


def test_the_live_version_shows_where_runs_are_now(page: Page, stack: AsgiServer) -> None:
    from flows.approvals.decisions import Decision, approval_decide
    from flows.engine.runs import run_start
    from flows.models import Approval
    from flows.versions import flow_version_publish

    flow, version = flow_save(document=json.loads(json.dumps(LIVE_FLOW)))
    flow_version_publish(flow=flow, version=version)
    for topic in ("one", "two"):
        run_start(flow=flow, input={"topic": topic})
    wait_for(lambda: Approval.objects.filter(status="pending").count() == 2)

    log_in(page, stack.url, "dee", Role.DESIGNER)
    page.goto(f"{stack.url}/flows/{flow.slug}/edit/")
    review = canvas_node(page, "review").locator(".step-load")
    expect(review).to_have_text("2 waiting", timeout=PATIENCE_MS)
    expect(page.locator("[data-runs-in-flight]")).to_have_attribute(
        "data-runs-in-flight", "2", timeout=PATIENCE_MS
    )
    expect(canvas_node(page, "write").locator(".step-load")).to_have_count(0)
    shoot(page, "6-live-overlay")

    admin = user_ensure(username="ada", role=Role.ADMIN)
    approval_decide(
        approval_id=Approval.objects.filter(status="pending").first().id,  # type: ignore[union-attr]
        user=admin,
        decision=Decision(
            decision="approve",
            shown_hash=shown(Approval.objects.filter(status="pending").first().id),  # type: ignore[union-attr]
        ),
    )
    expect(review).to_have_text("1 waiting", timeout=PATIENCE_MS)
    expect(page.locator("[data-runs-in-flight]")).to_have_attribute(
        "data-runs-in-flight", "1", timeout=PATIENCE_MS
    )
    page.get_by_label("Live runs").uncheck()
    expect(page.locator(".step-load")).to_have_count(0, timeout=PATIENCE_MS)
