"""The flow editor's node inspector and canvas for a newcomer, in a real Chromium against the real
stack: a tool node's arguments are a form generated from the tool's JSON Schema (labels, help,
required marks, templates, a lossless "Raw JSON" escape hatch, the validator's problems by their
field), config forms label fields with their schema titles and fold the advanced ones, the canvas
opens at a readable zoom and drops nodes under the pointer without moving the view, and a flow
started from the gallery stops saying "not saved yet" once it is published."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from playwright.sync_api import Locator, Page, expect

from agents.models import McpServer, McpTool
from controlroom.roles import Role
from flows.models import Flow
from flows.versions import flow_save
from tests.e2e.test_editor import (
    STARTER,
    canvas_node,
    connect,
    drag_from_palette,
    expect_no_problems,
    expect_validated,
    log_in,
)
from tests.support.stack import AsgiServer

pytestmark = pytest.mark.django_db(transaction=True)

VIEWPORT = re.compile(r"translate\(([-\d.e]+)px, ?([-\d.e]+)px\) scale\(([-\d.e]+)\)")


@pytest.fixture
def starter() -> Flow:
    flow, _ = flow_save(document=json.loads(json.dumps(STARTER)))
    return flow


def open_editor(page: Page, base: str, slug: str) -> None:
    log_in(page, base, "dee", Role.DESIGNER)
    page.set_viewport_size({"width": 1440, "height": 900})
    page.goto(f"{base}/flows/{slug}/edit/")
    expect(page.locator(".editor-canvas")).to_have_attribute("data-initial-view", "set")


def viewport(page: Page) -> tuple[float, float, float]:
    """The canvas's pan (x, y) and zoom, as React Flow draws them."""
    style = page.locator(".react-flow__viewport").get_attribute("style") or ""
    found = VIEWPORT.search(style)
    assert found, style
    x, y, zoom = found.groups()
    return float(x), float(y), float(zoom)


def args_form(page: Page) -> Locator:
    return page.locator(".node-panel fieldset.tool-args")


def add_send_email(page: Page) -> Locator:
    """A tool node dragged in, connected into the placeholder end, set to ``send_email``."""
    drag_from_palette(page, "tool", 200, 200)
    expect(canvas_node(page, "tool_1")).to_be_visible()
    connect(page, "tool_1", "placeholder")
    canvas_node(page, "tool_1").click()
    expect(args_form(page)).to_contain_text("Choose the tool first")
    page.get_by_label("Tool", exact=True).fill("send_email")
    form = args_form(page)
    expect(form).to_have_attribute("data-tool-args", "send_email")
    expect(form).to_have_attribute("data-mode", "form")
    return form


def saved_node(flow: Flow, number: int, node_id: str) -> dict[str, Any]:
    document = flow.versions.get(number=number).document
    return next(node for node in document["nodes"] if node["id"] == node_id)


def test_tool_arguments_are_a_form_from_the_tools_schema_and_raw_json_round_trips(
    page: Page, asgi_server: AsgiServer, starter: Flow
) -> None:
    open_editor(page, asgi_server.url, starter.slug)
    form = add_send_email(page)

    # One field per argument, labelled and explained by the schema; required ones marked.
    to, subject, body = (form.get_by_label(name, exact=True) for name in ("To", "Subject", "Body"))
    expect(to).to_have_attribute("aria-required", "true")
    expect(body).to_have_attribute("aria-required", "true")
    expect(subject).not_to_have_attribute("aria-required", "true")
    expect(form.locator('[data-field="to"] .field-required')).to_have_count(1)
    expect(form.locator('[data-field="subject"] .field-required')).to_have_count(0)
    expect(form.locator('[data-field="to"]')).to_contain_text("One e-mail address.")
    expect(form).to_contain_text("Send an e-mail through the configured e-mail backend")

    # Values are templates or text; the template previews against the sample input.
    to.fill("{{ input.topic }}@example.com")
    expect(form.locator('[data-field="to"] output.field-preview')).to_have_text(
        "Preview with the sample input: editor@example.com"
    )
    subject.fill("A note")
    body.fill("Hello {{ input.topic }}")
    typed = {
        "to": "{{ input.topic }}@example.com",
        "subject": "A note",
        "body": "Hello {{ input.topic }}",
    }
    expect_no_problems(page)

    # Raw JSON shows the same object; invalid JSON keeps the box open and says why.
    form.get_by_role("button", name="Raw JSON").click()
    expect(form).to_have_attribute("data-mode", "raw")
    raw = form.get_by_label("Arguments as JSON")
    assert json.loads(raw.input_value()) == typed
    raw.fill('{"to": "{{ input.topic }}@example.com", "subject": ')
    expect(form.locator("[data-json-error]")).to_contain_text("Not valid JSON")
    form.get_by_role("button", name="Raw JSON").click()
    expect(form).to_have_attribute("data-mode", "raw")
    expect(form.get_by_role("alert")).to_contain_text("Fix it to go back to the form")
    raw.fill(json.dumps({**typed, "subject": "A short note"}))
    expect(form.locator("[data-json-error]")).to_have_count(0)
    form.get_by_role("button", name="Raw JSON").click()
    expect(form).to_have_attribute("data-mode", "form")
    expect(form.get_by_label("Subject", exact=True)).to_have_value("A short note")
    expect(form.get_by_label("To", exact=True)).to_have_value(typed["to"])
    expect(form.get_by_label("Body", exact=True)).to_have_value(typed["body"])

    page.get_by_role("button", name="Save draft").click()
    expect(page.locator(".editor-status")).to_have_text("Saved as version 2.")
    node = saved_node(starter, 2, "tool_1")
    assert node["config"] == {"tool": "send_email", "args": {**typed, "subject": "A short note"}}


def test_the_validators_problems_on_arguments_show_by_their_field(
    page: Page, asgi_server: AsgiServer, starter: Flow
) -> None:
    open_editor(page, asgi_server.url, starter.slug)
    form = add_send_email(page)
    form.get_by_label("Body", exact=True).fill("Hello")
    expect_validated(page)
    expect(form.locator('[data-problem-for="to"]')).to_have_text(
        "send_email needs the argument 'to': it is required"
    )
    expect(form.get_by_label("To", exact=True)).to_have_attribute("aria-invalid", "true")
    expect(form.locator('[data-problem-for="body"]')).to_have_count(0)

    # A literal the schema refuses is reported at its field too.
    form.get_by_label("To", exact=True).fill("not an address")
    expect(form.locator('[data-problem-for="to"]')).to_contain_text("is not a 'email'")
    form.get_by_label("To", exact=True).fill("ann@example.com")
    expect(form.locator('[data-problem-for="to"]')).to_have_count(0)

    # An argument the tool does not have (written in raw JSON) is listed, with its problem, and
    # can be removed from the form.
    form.get_by_role("button", name="Raw JSON").click()
    form.get_by_label("Arguments as JSON").fill(
        json.dumps({"to": "ann@example.com", "body": "Hello", "recipient": "bob@example.com"})
    )
    form.get_by_role("button", name="Raw JSON").click()
    expect(form.locator('[data-problem-for="recipient"]')).to_have_text(
        "send_email has no argument 'recipient' (its arguments: to, subject, body)"
    )
    form.get_by_role("button", name="Remove Recipient").click()
    expect_no_problems(page)
    expect(canvas_node(page, "tool_1").locator(".step-node")).to_have_attribute(
        "data-problems", "0"
    )


@pytest.fixture
def orders_server() -> McpServer:
    server = McpServer.objects.create(
        slug="orders",
        name="Orders",
        transport=McpServer.Transport.HTTP,
        url="http://127.0.0.1:9/mcp",
        category="read",
    )
    McpTool.objects.create(
        server=server,
        name="order_get",
        description="Look an order up by its id.",
        input_schema={
            "type": "object",
            "properties": {
                "order_id": {"type": "string", "description": "As on the invoice."},
                "include_lines": {"type": "boolean", "title": "With its lines"},
                "limit": {"type": "integer", "minimum": 1},
            },
            "required": ["order_id"],
            "additionalProperties": False,
        },
    )
    return server


def test_an_mcp_tools_stored_schema_gives_its_form_and_numbers_take_templates(
    page: Page, asgi_server: AsgiServer, starter: Flow, orders_server: McpServer
) -> None:
    open_editor(page, asgi_server.url, starter.slug)
    drag_from_palette(page, "tool", 200, 200)
    connect(page, "tool_1", "placeholder")
    canvas_node(page, "tool_1").click()
    page.get_by_label("Tool", exact=True).fill("mcp:orders/order_get")
    form = args_form(page)
    expect(form).to_have_attribute("data-mode", "form")
    expect(form).to_contain_text("Look an order up by its id.")
    order_id = form.get_by_label("Order id", exact=True)
    expect(order_id).to_have_attribute("aria-required", "true")
    order_id.fill("{{ input.topic }}")
    form.get_by_label("With its lines", exact=True).check()
    limit = form.get_by_label("Limit", exact=True)
    expect(limit).to_have_attribute("type", "number")
    limit.fill("3")
    # The number field takes a template once switched; back again it keeps a number it can.
    form.get_by_role("button", name="Limit: use a template").click()
    form.get_by_label("Limit", exact=True).fill("{{ input.count }}")
    expect_no_problems(page)
    page.get_by_role("button", name="Save draft").click()
    expect(page.locator(".editor-status")).to_have_text("Saved as version 2.")
    assert saved_node(starter, 2, "tool_1")["config"]["args"] == {
        "order_id": "{{ input.topic }}",
        "include_lines": True,
        "limit": "{{ input.count }}",
    }


def test_config_forms_use_schema_titles_and_fold_the_advanced_fields(
    page: Page, asgi_server: AsgiServer, starter: Flow
) -> None:
    open_editor(page, asgi_server.url, starter.slug)
    drag_from_palette(page, "agent", 200, 150)
    panel = page.locator(".node-panel")
    expect(panel.get_by_label("Agent", exact=True)).to_be_visible()
    expect(panel.get_by_label("Prompt", exact=True)).to_be_visible()
    expect(panel).to_contain_text("Which agent acts (its slug).")
    advanced = panel.locator("details.field-advanced")
    expect(advanced).not_to_have_attribute("open", "")
    expect(panel.get_by_label("Time limit (seconds)")).to_be_hidden()
    expect(panel.get_by_label("On error")).to_be_hidden()

    drag_from_palette(page, "approval", 450, 150)
    expect(panel).to_have_attribute("data-node-panel", "approval_1")
    for label in ("Title", "Draft to review", "Who approves", "Deadline (minutes)"):
        expect(panel.get_by_label(label, exact=True)).to_be_visible()
    for label in ("At the deadline", "Escalate to", "Send back to", "Instructions", "On error"):
        expect(panel.get_by_label(label, exact=True)).to_be_hidden()
    advanced = panel.locator("details.field-advanced")
    expect(advanced).not_to_have_attribute("open", "")
    expect(advanced.locator("summary")).to_have_text("Advanced")
    expect(advanced).to_contain_text("By default the draft is rejected at the deadline")
    # Raw keys and formats are not labels.
    text = panel.inner_text()
    for raw_key in ("assignee_role", "deadline_minutes", "template-object", "args", "on_deadline"):
        assert raw_key not in text
    advanced.locator("summary").click()
    expect(panel.get_by_label("At the deadline", exact=True)).to_be_visible()
    panel.get_by_label("Deadline (minutes)", exact=True).fill("60")
    panel.get_by_label("At the deadline", exact=True).select_option("escalate")
    expect(advanced.locator("summary")).to_contain_text("1 set")


def test_the_canvas_opens_readable_and_drops_land_under_the_pointer(
    page: Page, asgi_server: AsgiServer
) -> None:
    log_in(page, asgi_server.url, "dee", Role.DESIGNER)
    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto(
        f"{asgi_server.url}/flows/new/?template=tier-one-support&name=Support+desk&slug=support-desk"
    )
    canvas = page.locator(".editor-canvas")
    expect(canvas).to_have_attribute("data-initial-view", "set")
    _, _, zoom = viewport(page)
    assert zoom >= 0.7
    # Too wide to fit at that zoom: it starts at the first node, in view.
    box = canvas.bounding_box()
    first = canvas_node(page, "classify").bounding_box()
    assert box and first
    assert box["x"] <= first["x"] and first["x"] + first["width"] <= box["x"] + box["width"]

    # A blank flow: each drop lands under the pointer, and no drop moves the view.
    page.goto(f"{asgi_server.url}/flows/new/?template=blank&name=Scratch&slug=scratch")
    expect(canvas).to_have_attribute("data-initial-view", "set")
    before = viewport(page)
    for kind, (x, y) in (("agent", (420, 260)), ("end", (160, 120))):
        drag_from_palette(page, kind, x, y)
        expect(canvas_node(page, f"{kind}_1")).to_be_visible()
        expect_validated(page)  # its answer may move the canvas down (the toolbar's notes)
        pane = page.locator(".react-flow__pane").bounding_box()
        node = canvas_node(page, f"{kind}_1").bounding_box()
        assert pane and node
        point = (pane["x"] + x, pane["y"] + y)
        assert node["x"] <= point[0] <= node["x"] + node["width"], (node, point)
        assert node["y"] <= point[1] <= node["y"] + node["height"], (node, point)
        assert abs(node["x"] + node["width"] / 2 - point[0]) <= 2
        assert viewport(page) == before


def test_publishing_a_flow_from_the_gallery_ends_not_saved_yet(
    page: Page, asgi_server: AsgiServer
) -> None:
    log_in(page, asgi_server.url, "dee", Role.DESIGNER)
    page.goto(
        f"{asgi_server.url}/flows/new/?template=tier-one-support&name=Support+desk&slug=support-desk"
    )
    crumbs = page.get_by_role("navigation", name="Breadcrumb")
    expect(crumbs).to_contain_text("Support desk (not saved yet)")
    expect_no_problems(page)
    # Run draft sits between Save draft and Publish in the toolbar.
    toolbar = page.get_by_role("toolbar", name="Editor")
    publish = toolbar.get_by_role("button", name="Publish", exact=True)
    expect(publish).to_be_enabled()
    save, run, live = (
        toolbar.get_by_role("button", name=name, exact=True).bounding_box()
        for name in ("Save draft", "Run draft", "Publish")
    )
    assert save and run and live and save["x"] < run["x"] < live["x"]
    publish.click()
    expect(page.locator(".editor-status")).to_have_text("Version 1 is live.")
    expect(crumbs).not_to_contain_text("not saved yet")
    expect(crumbs.get_by_role("link", name="Support desk")).to_have_attribute(
        "href", "/flows/support-desk/"
    )
    expect(crumbs.locator('[aria-current="page"]')).to_have_text("Editor")
    expect(page).to_have_title(re.compile(r"^Edit Support desk"))
    flow = Flow.objects.get(slug="support-desk")
    assert flow.live_version is not None and flow.live_version.number == 1
