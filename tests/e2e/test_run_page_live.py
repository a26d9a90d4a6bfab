"""The run page follows a run live over the websocket, against the real stack: uvicorn (ASGI +
Channels over Redis), a Celery worker and beat as separate processes, and Chromium.

The demo flow "lead to meeting" runs enrich → qualify → route → draft → review (an approval) →
send, each agent answering after 250 to 600 ms, so every state change is visible.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from controlroom.accounts import user_ensure
from controlroom.roles import Role
from flows.engine import runs
from flows.models import Approval, Flow, Run
from flows.states import ApprovalStatus, RunStatus
from flows.versions import flow_save
from tests.support.browser import PASSWORD, log_in
from tests.support.stack import AsgiServer, ManagedProcess
from tests.support.wait import wait_for

# committed rows: the web server and worker processes read them through their own connections
pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parents[2]
# Long enough for four scripted agents on a freshly started worker.
PATIENCE_MS = 30_000

# Records, per graph node, every state its <g> has shown (consecutive repeats dropped), so the
# test can tell that a node went through "running" before "succeeded" in this page.
RECORD_NODE_STATES = """
window.__seen = {};
function __record() {
  document.querySelectorAll('g.node[data-state]').forEach(function (g) {
    var id = g.id.replace(/^node-/, ''), list = window.__seen[id] || (window.__seen[id] = []);
    if (list[list.length - 1] !== g.dataset.state) list.push(g.dataset.state);
  });
}
new MutationObserver(__record)
  .observe(document, {subtree: true, childList: true, attributes: true});
document.addEventListener('DOMContentLoaded', __record);
"""


@pytest.fixture
def stack(
    asgi_server: AsgiServer, celery_worker: ManagedProcess, celery_beat: ManagedProcess
) -> AsgiServer:
    for asset in ("htmx.min.js", "htmx-ext-ws.min.js"):
        assert (ROOT / "static" / "vendor" / asset).exists(), "run `make assets` first"
    return asgi_server


@pytest.fixture
def lead_flow() -> Flow:
    document = json.loads((ROOT / "flows" / "demo" / "lead-to-meeting.json").read_text())
    # The writer takes long enough that the page, however slowly it loads under a busy CI
    # machine, sees its draft step before it succeeds.
    for agent in document["agents"]:
        if agent["slug"] == "sdr-writer":
            agent["script"]["latency_ms"] = 3000
    flow, _ = flow_save(document=document)
    return flow


def node(page: Page, node_id: str) -> Any:
    return page.locator(f"#node-{node_id}")


def test_the_run_page_follows_a_run_live_without_reloading(
    page: Page, stack: AsgiServer, lead_flow: Flow
) -> None:
    user_ensure(username="ada", role=Role.ADMIN, password=PASSWORD)
    base = stack.url
    page.add_init_script(RECORD_NODE_STATES)
    log_in(page, base, "ada")

    page.goto(f"{base}/flows/")
    page.get_by_role("link", name="Lead to meeting", exact=True).click()
    expect(page.get_by_label("Input (JSON)")).to_have_value(re.compile("Ada Lovelace"))
    page.get_by_role("button", name="Start run").click()
    page.wait_for_url(re.compile(r"/runs/[0-9a-f-]{36}/$"))
    run = Run.objects.get()
    assert page.url == f"{base}/runs/{run.id}/"

    # From here on the page must never load again: everything arrives over the websocket.
    page.evaluate("window.__marker = 1")
    loads: list[str] = []
    page.on("load", lambda: loads.append(page.url))
    expect(page.locator("body")).to_have_attribute("data-live", "open")

    # The agents run one after another; the draft node only starts after three of them.
    expect(node(page, "enrich")).to_have_attribute("data-state", "succeeded", timeout=PATIENCE_MS)
    expect(node(page, "draft")).to_have_attribute("data-state", "succeeded", timeout=PATIENCE_MS)
    expect(node(page, "nurture")).to_have_attribute("data-state", "skipped")
    expect(node(page, "review")).to_have_attribute("data-state", "waiting", timeout=PATIENCE_MS)
    expect(node(page, "review")).to_contain_text("waiting")  # the state in words, not only colour
    expect(page.locator("#run-status")).to_have_text("waiting for approval")
    seen = page.evaluate("window.__seen")
    assert seen["draft"][-1] == "succeeded"
    assert {"pending", "queued", "running"} & set(seen["draft"][:-1]), seen

    # The timeline grew a row per step; a row opens to the step's input and output.
    draft_row = page.locator('#timeline-rows details[data-node="draft"]')
    expect(draft_row).to_have_attribute("data-state", "succeeded")
    draft_row.locator("summary").click()
    expect(draft_row.locator(".step-body")).to_contain_text("Ada Lovelace")
    expect(page.locator("#timeline-rows details.step")).to_have_count(6)  # send not reached yet

    # The approval appeared in the page; approving it finishes the run, still without a reload.
    card = page.locator("#run-approvals article")
    expect(card).to_contain_text("Reply to Ada Lovelace")
    card.get_by_label("Reason (optional)").fill("looks right")
    card.get_by_role("button", name="Approve").click()
    expect(node(page, "send")).to_have_attribute("data-state", "succeeded", timeout=PATIENCE_MS)
    expect(page.locator("#run-status")).to_have_text("succeeded", timeout=PATIENCE_MS)
    expect(page.locator("#run-header")).to_contain_text("$0.")  # cost arrived with the steps
    expect(page.locator("#run-approvals")).to_contain_text("Approved by ada")
    expect(page.get_by_role("button", name="Cancel run")).to_have_count(0)

    assert page.evaluate("window.__marker") == 1
    assert loads == []
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED


def test_the_runs_list_shows_new_runs_as_they_start(
    page: Page, stack: AsgiServer, lead_flow: Flow
) -> None:
    admin = user_ensure(username="ada", role=Role.ADMIN, password=PASSWORD)
    log_in(page, stack.url, "ada")
    page.goto(f"{stack.url}/runs/")
    expect(page.locator("body")).to_have_attribute("data-live", "open")
    page.evaluate("window.__marker = 1")
    expect(page.locator("#runs-rows")).to_contain_text("No runs to show yet.")

    run, _ = runs.run_start(
        flow=lead_flow,
        input={"name": "Grace", "email": "grace@navy.example", "company": "Navy", "message": "hi"},
        user=admin,
    )
    row = page.locator(f"#run-row-{run.id}")
    expect(row).to_be_visible()
    expect(row.locator(".status")).to_have_text("waiting for approval", timeout=PATIENCE_MS)
    expect(page.locator("#nav-approvals-badge")).to_contain_text("1")
    assert page.evaluate("window.__marker") == 1


def test_a_viewer_sees_no_controls_and_a_forged_post_is_refused(
    page: Page, stack: AsgiServer, lead_flow: Flow
) -> None:
    admin = user_ensure(username="ada", role=Role.ADMIN, password=PASSWORD)
    user_ensure(username="vic", role=Role.VIEWER, password=PASSWORD)
    run, _ = runs.run_start(
        flow=lead_flow,
        input={"name": "Grace", "email": "grace@navy.example", "company": "Navy", "message": "hi"},
        user=admin,
    )
    approval = wait_for(lambda: Approval.objects.filter(run=run).first())

    log_in(page, stack.url, "vic")
    page.goto(f"{stack.url}/runs/{run.id}/")
    expect(page.locator("#run-status")).to_have_text("waiting for approval")
    expect(page.locator("#run-approvals")).to_contain_text("Waiting for approver to decide")
    for name in ("Cancel run", "Retry run", "Approve", "Reject"):
        expect(page.get_by_role("button", name=name)).to_have_count(0)
    expect(page.get_by_role("link", name="Run", exact=True)).to_have_count(0)

    # The same requests the buttons would send, with a valid CSRF token: refused for the role.
    token = next(c["value"] for c in page.context.cookies() if c["name"] == "csrftoken")
    headers = {"X-CSRFToken": token}
    for path, form in [
        (f"/runs/{run.id}/cancel/", None),
        (f"/runs/{run.id}/retry/", None),
        (f"/approvals/{approval.id}/decide/", {"decision": "approve"}),
        (f"/flows/{lead_flow.slug}/runs/", {"input": "{}"}),
    ]:
        response = page.request.post(f"{stack.url}{path}", headers=headers, form=form)
        assert response.status == 403, path
        assert "Not allowed" in response.text(), path  # our refusal, not a CSRF failure
    run.refresh_from_db()
    approval.refresh_from_db()
    assert run.status == RunStatus.WAITING_APPROVAL
    assert approval.status == ApprovalStatus.PENDING
    assert Run.objects.count() == 1
