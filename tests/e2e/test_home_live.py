"""The control-room home against the real stack (uvicorn + Channels over Redis, a Celery
worker and beat, Chromium): its counters and feed change live while a run executes, the
stuck-run alarm requeues or cancels with one click, and the page passes axe-core."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from controlroom.accounts import user_ensure
from controlroom.roles import Role
from flows import home
from flows.engine import runs
from flows.models import Flow, Run, RunEvent, Step
from flows.states import RunStatus
from tests.support.browser import PASSWORD, axe_violations, log_in
from tests.support.flows import document, node, save, scripted
from tests.support.stack import AsgiServer, ManagedProcess

# committed rows: the web server and worker processes read them through their own connections
pytestmark = pytest.mark.django_db(transaction=True)

PATIENCE_MS = 30_000


@pytest.fixture
def flow() -> Flow:
    """draft (an agent answering after 1.5 s, priced) → review (an approval) → done."""
    return save(
        document(
            "home-live",
            [
                node("draft", "agent", agent="writer", prompt="{{ input.topic }}"),
                node("review", "approval", title="Check it", draft="{{ steps.draft.output }}"),
                node("done", "end"),
            ],
            [("draft", "review"), ("review", "done")],
            agents=[
                scripted(
                    "writer",
                    "a long draft about {{ input.topic }}",
                    latency_ms=1500,
                    price_in_per_1k="40",
                    price_out_per_1k="80",
                )
            ],
        )
    )


def counter(page: Page, name: str) -> Any:
    return page.locator(f'[data-counter="{name}"] .kpi-value')


def test_the_counters_change_live_while_a_run_executes(
    page: Page,
    asgi_server: AsgiServer,
    celery_worker: ManagedProcess,
    celery_beat: ManagedProcess,
    flow: Flow,
) -> None:
    admin = user_ensure(username="ada", role=Role.ADMIN, password=PASSWORD)
    log_in(page, asgi_server.url, "ada")
    expect(page.get_by_role("heading", name="Control room", level=1)).to_be_visible()
    expect(page.locator("body")).to_have_attribute("data-live", "open")
    page.evaluate("window.__marker = 1")
    expect(counter(page, "in_flight")).to_have_text("0")
    expect(counter(page, "approvals_waiting")).to_have_text("0")
    expect(counter(page, "spend_today")).to_have_text("$0")
    expect(page.locator('[data-health="workers"]')).to_contain_text("1 live")

    run, _ = runs.run_start(flow=flow, input={"topic": "live counters"}, user=admin)
    expect(counter(page, "in_flight")).to_have_text("1", timeout=PATIENCE_MS)
    row = page.locator(f"#run-row-{run.id}")
    expect(row).to_be_visible()  # the live feed
    # The agent answers, the run parks at the approval: the inbox counter and spend move.
    expect(counter(page, "approvals_waiting")).to_have_text("1", timeout=PATIENCE_MS)
    expect(page.locator('[data-counter="approvals_waiting"] .kpi-sub')).to_contain_text("oldest")
    expect(row.locator(".status")).to_have_text("waiting for approval")
    expect(counter(page, "spend_today")).not_to_have_text("$0", timeout=PATIENCE_MS)

    runs.run_cancel(run_id=run.id, reason="enough")
    expect(counter(page, "in_flight")).to_have_text("0", timeout=PATIENCE_MS)
    expect(counter(page, "approvals_waiting")).to_have_text("0")
    expect(row.locator(".status")).to_have_text("cancelled")
    assert page.evaluate("window.__marker") == 1  # never reloaded: all of it came live
    assert axe_violations(page) == []


def _stuck(flow: Flow, topic: str) -> Run:
    run, _ = runs.run_start(flow=flow, input={"topic": topic})
    then = timezone.now() - home.stuck_after() - timedelta(minutes=1)
    Run.objects.filter(id=run.id).update(created_at=then)
    RunEvent.objects.filter(run=run).update(at=then)
    Step.objects.filter(run=run).update(created_at=then, enqueued_at=then)
    return run


def test_the_stuck_run_alarm_requeues_or_cancels_in_one_click(
    page: Page, own_asgi_server: AsgiServer, flow: Flow
) -> None:
    """No worker runs here (a web server of its own, not the shared stack), so the queued steps
    stay put and the runs look stuck."""
    asgi_server = own_asgi_server
    user_ensure(username="ada", role=Role.DESIGNER, password=PASSWORD)
    first, second = _stuck(flow, "first"), _stuck(flow, "second")
    log_in(page, asgi_server.url, "ada")
    alarm = page.locator("#home-stuck")
    expect(alarm.locator(f"#stuck-{first.id}")).to_be_visible()
    expect(alarm.locator(f"#stuck-{second.id}")).to_be_visible()
    expect(page.locator('[data-health="workers"]')).to_contain_text("none")
    assert axe_violations(page) == []

    alarm.locator(f"#stuck-{first.id}").get_by_role("button", name="Requeue").click()
    notice = page.locator("#home-stuck-notice")
    expect(notice).to_contain_text("1 step(s) requeued")
    expect(alarm.locator(f"#stuck-{first.id}")).to_have_count(0)  # the requeue is progress
    assert RunEvent.objects.filter(run=first, kind="run.requeued", data__by="ada").exists()

    page.once("dialog", lambda dialog: dialog.accept())
    alarm.locator(f"#stuck-{second.id}").get_by_role("button", name="Cancel").click()
    expect(notice).to_contain_text("cancelled")
    expect(alarm.locator(f"#stuck-{second.id}")).to_have_count(0)
    second.refresh_from_db()
    assert second.status == RunStatus.CANCELLED
    expect(alarm).to_contain_text("No stuck runs")


def test_the_latest_runs_table_fits_its_card_with_tokens_and_cost_at_1280px(
    page: Page, asgi_server: AsgiServer, flow: Flow
) -> None:
    user_ensure(username="ada", role=Role.ADMIN, password=PASSWORD)
    for topic in ("fit", "a very long subject line that would push the columns out " * 2):
        run, _ = runs.run_start(flow=flow, input={"topic": topic})
        # The widest row the feed shows: the longest status label, a long subject, spend.
        Run.objects.filter(id=run.id).update(
            status=RunStatus.WAITING_APPROVAL,
            subject=topic,
            tokens_in=123_456,
            tokens_out=7_890,
            cost="12345.6789",
        )
    page.set_viewport_size({"width": 1280, "height": 900})
    log_in(page, asgi_server.url, "ada")
    card = page.locator("section[aria-labelledby=feed-title]").bounding_box()
    assert card is not None
    right = card["x"] + card["width"]
    for header in ("Tokens", "Cost"):
        cell = page.locator(".runs-table thead th", has_text=header).bounding_box()
        assert cell is not None and cell["x"] + cell["width"] <= right, header
    last = page.locator(".runs-table tbody tr").first.locator("td").last
    expect(last).to_have_text("$12,345.68")
    box = last.bounding_box()
    assert box is not None and box["x"] + box["width"] <= right
    scroll = page.locator("section[aria-labelledby=feed-title] .table-scroll")
    assert scroll.evaluate("el => el.scrollWidth <= el.clientWidth")
