"""The ROI dashboard in Chromium against the real ASGI server: Chart.js (from npm, copied by
`make assets`) draws the charts, the numbers are also tables, presets change the period, and
the dashboard and the leaderboard pass axe-core."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from controlroom.accounts import user_ensure
from controlroom.roles import Role
from flows.approvals.decisions import Decision, approval_decide
from flows.models import Approval
from flows.triggers.outcomes import outcome_record
from tests.e2e.test_inbox_live import PASSWORD, axe_violations, log_in
from tests.support.approvals import parked, review_flow, shown
from tests.support.stack import AsgiServer

# committed rows: the web server process reads them through its own connection
pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def seeded() -> Any:
    """Executed in this process (no worker needed): two decided runs, one with an outcome."""
    approver = user_ensure(username="ada", role=Role.APPROVER, password=PASSWORD)
    user_ensure(username="vic", role=Role.VIEWER, password=PASSWORD)
    doc = review_flow("roi-e2e") | {
        "subject": "{{ input.topic }}",
        "roi": {"baseline_minutes": 20, "hourly_cost": 50, "success_outcome": "published"},
    }
    for topic, decision in (("pricing", "approve"), ("roadmap", "reject")):
        _, approval = parked(doc, topic)
        approval_decide(
            approval_id=approval.id,
            user=approver,
            decision=Decision(
                decision,
                reason="not now" if decision == "reject" else "",
                shown_hash=shown(approval.id),
            ),
        )
    outcome_record(subject="pricing", metric="published")
    parked(doc, "hiring")  # waits at the review: the bottleneck view counts it
    assert Approval.objects.filter(status="pending").count() == 1


def test_the_dashboard_draws_its_charts_and_passes_axe(
    page: Page, own_asgi_server: AsgiServer, seeded: Any
) -> None:
    assert (ROOT / "static" / "vendor" / "chart.umd.min.js").exists(), "run `make assets` first"
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    base = own_asgi_server.url
    log_in(page, base, "vic")
    page.goto(f"{base}/flows/roi-e2e/")
    page.get_by_role("link", name="ROI", exact=True).last.click()
    expect(page.get_by_role("heading", name="What Roi E2E is worth")).to_be_visible()
    for chart in ("trend", "versions", "models"):
        canvas = page.locator(f'[data-roi-chart="{chart}"]')
        expect(canvas).to_be_visible()
        # The chart scripts are deferred: wait for them rather than racing the page load.
        page.wait_for_function(
            "(name) => window.Chart && !!Chart.getChart("
            "document.querySelector(`[data-roi-chart='${name}']`))",
            arg=chart,
        )
    review = page.locator("#bottlenecks").get_by_role("row", name=re.compile(r"^review approval"))
    expect(review.locator("td").last).to_have_text("1")  # "hiring" waits there now
    expect(page.get_by_text("“not now”")).to_be_visible()
    page.get_by_text("Daily numbers as a table").click()
    assert axe_violations(page) == []
    page.get_by_role("link", name="90 days").click()
    expect(page).to_have_url(f"{base}/flows/roi-e2e/roi/?days=90")
    expect(page.get_by_role("link", name="90 days")).to_have_attribute("aria-current", "true")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="ROI").click()
    expect(page.get_by_role("row", name="Roi E2E")).to_be_visible()
    assert axe_violations(page) == []
    assert errors == []
