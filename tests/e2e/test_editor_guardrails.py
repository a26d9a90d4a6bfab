"""Policy attachment in the flow editor, against the real stack (uvicorn + Channels + Redis, a
Celery worker, Chromium): a designer adds a guardrail from a starting point, sees the API's
validator pin a bad config to it and clear, undoes and redoes, saves and exports it in
``policies[]``; the stored policies that apply to the flow and to an agent show where they
apply, linking to their pages; a viewer reads them without controls; the flow page's launch
checklist leads into the editor."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, Route, expect

from agents.models import Policy
from controlroom.roles import Role
from flows.models import Flow, FlowVersion
from flows.versions import flow_save
from tests.e2e.test_editor import (
    AXE,
    AXE_RUN,
    ROOT,
    canvas_node,
    expect_no_problems,
    log_in,
    shoot,
    write_then_end,
)
from tests.support.browser import axe_inject
from tests.support.stack import AsgiServer, ManagedProcess
from tests.support.wait import stays

# committed rows: the web server and worker processes read them through their own connections
pytestmark = pytest.mark.django_db(transaction=True)

DOCUMENT: dict[str, Any] = {
    "schema": "controlroom.flow/v1",
    "slug": "outreach",
    "name": "Outreach",
    "trigger": {"type": "manual"},
    "agents": [
        {"slug": "writer", "role": "Write", "provider": "scripted", "script": {"responses": ["hi"]}}
    ],
    **write_then_end("Write to {{ input.email }}"),
    "feedback": {"outcome": "replied"},
}


@pytest.fixture
def stack(
    asgi_server: AsgiServer, celery_worker: ManagedProcess, celery_beat: ManagedProcess
) -> AsgiServer:
    """The stack of tests/e2e/test_editor.py (importing that fixture by name trips ruff F811)."""
    assert (ROOT / "static" / "editor" / "editor.js").exists(), "run `make assets` first"
    return asgi_server


@pytest.fixture
def outreach() -> Flow:
    flow, _ = flow_save(document=json.loads(json.dumps(DOCUMENT)))
    stored = [
        ("writer-no-payments", "agent", "writer", True),
        ("everywhere-pii", "global", "", True),
        ("outreach-night", "flow", "outreach", True),
        ("old-global", "global", "", False),
        ("other-agent", "agent", "reviewer", True),
        ("email-one-a-day", "tool", "send_email", True),
    ]
    for slug, scope, target, enabled in stored:
        Policy.objects.create(
            slug=slug, name=slug.replace("-", " ").capitalize(), kind="content", scope=scope,
            target=target, verdict="block", reason=f"reason of {slug}",
            config={"phrases": ["guaranteed returns"]}, enabled=enabled,
        )  # fmt: skip
    return flow


def test_a_designer_attaches_a_policy_sees_it_validated_saves_and_exports_it(
    page: Page, stack: AsgiServer, outreach: Flow
) -> None:
    page.set_viewport_size({"width": 1440, "height": 1000})
    log_in(page, stack.url, "gia", Role.DESIGNER)
    page.goto(f"{stack.url}/flows/{outreach.slug}/edit/")
    guardrails = page.get_by_role("region", name="Guardrails")
    expect(guardrails.locator("[data-guardrails-empty]")).to_be_visible()

    # The stored policies that also apply: enabled global ones and this flow's, nothing else.
    applying = guardrails.get_by_role("list", name="Stored policies that apply to this flow")
    expect(applying.locator("[data-stored-policy]")).to_have_count(2)
    expect(applying.get_by_role("link", name="Everywhere pii")).to_have_attribute(
        "href", "/policies/everywhere-pii/"
    )
    expect(applying.get_by_role("link", name="Outreach night")).to_be_visible()

    # Add one from a starting point: it opens for editing with the kind's own fields.
    page.get_by_label("Add a policy from").select_option(
        label="At most 1 outbound message per subject per 24 h"
    )
    page.get_by_role("button", name="Add policy").click()
    entry = guardrails.locator('[data-policy="one-message-per-day"]')
    expect(entry).to_contain_text("rate_limit")
    expect(entry).to_contain_text("block")
    expect(entry).to_contain_text("At most one outbound message per contact in 24 hours.")
    window = page.locator("#policy-0-config-window")
    expect(window).to_have_value("24h")
    expect(page.locator("#policy-0-config-categories")).to_have_value("outbound_message")
    expect_no_problems(page)

    # A bad window: the validator's problem is pinned to the entry and its field, then clears.
    window.fill("24 hours")
    expect(entry).to_have_attribute("data-problems", "1")
    expect(window).to_have_attribute("aria-invalid", "true")
    expect(entry.locator(".field-problem")).to_contain_text("a number and a unit")
    expect(page.locator(".problem-list")).to_contain_text("/policies/0/config/window")
    shoot(page, "guardrails-1-problem")
    # Choosing the problem in the Problems list opens its guardrail at the field.
    entry.get_by_role("button", name="Close One message per contact a day").click()
    expect(window).to_have_count(0)
    page.locator(".problem-list").get_by_role("button", name="/policies/0/config/window").click()
    expect(window).to_be_focused()
    window.fill("24h")
    expect(entry).to_have_attribute("data-problems", "0")
    expect_no_problems(page)
    page.locator("#policy-0-reason").fill("One message per contact a day, at most.")

    # Removing is undoable like any other edit of the document.
    entry.get_by_role("button", name="Remove One message per contact a day").click()
    expect(guardrails.locator("[data-policy]")).to_have_count(0)
    page.get_by_role("button", name="Undo").click()
    expect(entry).to_be_visible()
    expect(entry).to_contain_text("One message per contact a day, at most.")

    page.get_by_role("button", name="Save draft").click()
    expect(page.locator(".editor-status")).to_contain_text("Saved as version 2")
    saved = FlowVersion.objects.get(flow=outreach, number=2).document["policies"]
    assert saved == [
        {
            "slug": "one-message-per-day",
            "name": "One message per contact a day",
            "kind": "rate_limit",
            "verdict": "block",
            "reason": "One message per contact a day, at most.",
            "config": {"categories": ["outbound_message"], "max": 1, "window": "24h"},
        }
    ]
    with page.expect_download() as download:
        page.get_by_role("button", name="Export JSON").click()
    exported = json.loads(Path(download.value.path()).read_text())
    assert exported["policies"] == saved

    # The agent node's panel lists the stored policies scoped to its agent, and only those.
    canvas_node(page, "write").click()
    mine = page.get_by_role("list", name="Policies for agent writer")
    expect(mine.locator("[data-stored-policy]")).to_have_count(1)
    expect(mine.get_by_role("link", name="Writer no payments")).to_have_attribute(
        "href", "/policies/writer-no-payments/"
    )
    shoot(page, "guardrails-2-agent-panel")
    assert AXE.exists()
    axe_inject(page)
    assert page.evaluate(AXE_RUN) == []

    mine.get_by_role("link", name="Writer no payments").click()
    expect(page).to_have_url(f"{stack.url}/policies/writer-no-payments/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Writer no payments")


def test_a_late_answer_for_an_older_document_is_not_shown(
    page: Page, stack: AsgiServer, outreach: Flow
) -> None:
    """Under ASGI overlapping validations are answered in parallel, so the answer for an older
    document can arrive last: the editor shows only the answer for the newest one, and calls the
    flow valid only once that answer is in."""
    log_in(page, stack.url, "gia", Role.DESIGNER)
    page.goto(f"{stack.url}/flows/{outreach.slug}/edit/")
    page.get_by_label("Add a policy from").select_option(
        label="At most 1 outbound message per subject per 24 h"
    )
    page.get_by_role("button", name="Add policy").click()
    entry = page.locator('[data-policy="one-message-per-day"]')
    window = page.locator("#policy-0-config-window")
    expect_no_problems(page)

    held: list[Route] = []

    def hold_the_12h_document(route: Route) -> None:
        if route.request.post_data_json["policies"][0]["config"]["window"] == "12h":
            held.append(route)
        else:
            route.continue_()

    page.route("**/api/flows/validate", hold_the_12h_document)
    with page.expect_request("**/api/flows/validate"):
        window.fill("12h")  # valid, but its answer is held back
    expect(page.locator("#problems-heading")).to_contain_text("checking")
    expect(page.locator("[data-valid]")).to_have_count(0)
    window.fill("12 hours")
    expect(entry).to_have_attribute("data-problems", "1")
    expect(page.locator("#problems-heading [data-count]")).to_have_attribute("data-count", "1")

    assert len(held) == 1
    with page.expect_response("**/api/flows/validate"):
        held[0].continue_()
    stays(  # the page would apply the stale "valid" within this watch, were it applied
        lambda: (
            entry.get_attribute("data-problems") == "1"
            and page.locator("[data-valid]").count() == 0
        ),
        seconds=0.3,
        message="the newer document's problem",
    )
    expect(entry).to_have_attribute("data-problems", "1")
    expect(page.locator("#problems-heading [data-count]")).to_have_attribute("data-count", "1")
    expect(page.locator("[data-valid]")).to_have_count(0)


def test_every_starting_point_is_a_valid_policy_with_its_own_slug(
    page: Page, stack: AsgiServer, outreach: Flow
) -> None:
    page.set_viewport_size({"width": 1440, "height": 1000})
    log_in(page, stack.url, "gia", Role.DESIGNER)
    page.goto(f"{stack.url}/flows/{outreach.slug}/edit/")
    starters = page.get_by_label("Add a policy from").locator("option")
    expect(starters).to_have_count(10)  # every starting point (STARTERS in Guardrails.jsx)
    labels = starters.all_inner_texts()
    for label in [*labels, labels[0]]:  # the first one twice: its slug is made unique
        page.get_by_label("Add a policy from").select_option(label=label)
        page.get_by_role("button", name="Add policy").click()
    entries = page.locator(".policy-entry")
    expect(entries).to_have_count(len(labels) + 1)
    # The problems on the entries are those of the answer to all of them, not an earlier one.
    expect_no_problems(page, timeout=10_000)
    expect(page.locator('.policy-entry[data-problems="0"]')).to_have_count(len(labels) + 1)
    page.get_by_role("button", name="Save draft").click()
    expect(page.locator(".editor-status")).to_contain_text("Saved as version 2")
    saved = FlowVersion.objects.get(flow=outreach, number=2).document["policies"]
    kinds = {entry["kind"] for entry in saved}
    assert kinds == {
        "approval", "rate_limit", "quiet_hours", "budget", "limits", "tool_scope", "pii", "content",
    }  # fmt: skip
    slugs = [entry["slug"] for entry in saved]
    assert len(set(slugs)) == len(slugs) and slugs[-1] == f"{slugs[0]}-2"


def test_a_viewer_reads_the_guardrails_without_controls(
    page: Page, stack: AsgiServer, outreach: Flow
) -> None:
    notify = {
        "id": "notify",
        "type": "tool",
        "config": {"tool": "send_email", "args": {"to": "a@x.test", "body": "hi"}},
    }
    document = {**DOCUMENT, "nodes": [*DOCUMENT["nodes"], notify], "edges": [
        {"from": "write", "to": "notify"}, {"from": "notify", "to": "done"},
    ], "policies": [{
        "slug": "budget", "name": "Budget per run", "kind": "budget", "verdict": "block",
        "reason": "One run may spend at most 0.50.", "config": {"per": "run", "max_cost": "0.50"},
    }]}  # fmt: skip
    flow_save(document=json.loads(json.dumps(document)))
    page.set_viewport_size({"width": 1440, "height": 1000})
    log_in(page, stack.url, "vic", Role.VIEWER)
    page.goto(f"{stack.url}/flows/{outreach.slug}/edit/")
    guardrails = page.get_by_role("region", name="Guardrails")
    entry = guardrails.locator('[data-policy="budget"]')
    expect(entry).to_contain_text("Budget per run")
    expect(entry).to_contain_text("One run may spend at most 0.50.")
    expect(guardrails.get_by_role("button", name="Add policy")).to_have_count(0)
    expect(entry.get_by_role("button", name="Remove Budget per run")).to_have_count(0)
    entry.get_by_role("button", name="Details Budget per run").click()
    expect(page.locator("#policy-0-config-max_cost")).to_have_value("0.50")
    expect(page.locator("#policy-0-config-max_cost")).to_be_disabled()
    expect(page.locator("#policy-0-verdict")).to_be_disabled()
    # A tool node's panel lists the stored policies scoped to its tool.
    canvas_node(page, "notify").click()
    scoped = page.get_by_role("list", name="Policies for tool send_email")
    expect(scoped.locator("[data-stored-policy]")).to_have_count(1)
    expect(scoped.get_by_role("link", name="Email one a day")).to_have_attribute(
        "href", "/policies/email-one-a-day/"
    )
    axe_inject(page)
    assert page.evaluate(AXE_RUN) == []


def test_the_flow_page_checklist_leads_to_the_missing_field_in_the_editor(
    page: Page, stack: AsgiServer, outreach: Flow
) -> None:
    page.set_viewport_size({"width": 1440, "height": 1000})
    log_in(page, stack.url, "gia", Role.DESIGNER)
    page.goto(f"{stack.url}/flows/{outreach.slug}/")
    checklist = page.get_by_role("region", name="Launch checklist")
    expect(checklist.locator('[data-launch-item="roi"]')).to_have_attribute("data-ok", "false")
    expect(checklist.locator('[data-launch-item="action"]')).to_have_attribute("data-ok", "true")
    shoot(page, "guardrails-3-flow-page-checklist")
    axe_inject(page)
    assert page.evaluate(AXE_RUN) == []
    checklist.get_by_role("link", name="Fix in the editor: ROI").click()
    expect(page).to_have_url(f"{stack.url}/flows/{outreach.slug}/edit/?launch=roi")
    expect(page.locator("#roi-baseline")).to_be_focused()
