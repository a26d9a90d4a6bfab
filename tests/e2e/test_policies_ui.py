"""The policy pages in Chromium against the real ASGI server: a designer fills in a rate limit,
simulates it against last week's recorded runs before saving (one run would have been blocked,
linked to its run page), saves it disabled, enables it from the list; every page passes
axe-core's WCAG 2.1 A/AA rules."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from agents.models import Policy
from controlroom.accounts import user_ensure
from controlroom.roles import Role
from flows.engine import runs
from flows.models import Run
from tests.support.browser import PASSWORD, axe_violations
from tests.support.flows import document, drive, node, save
from tests.support.stack import AsgiServer

# committed rows: the web server process reads them through its own connection
pytestmark = pytest.mark.django_db(transaction=True)

SHOTS = Path(tempfile.gettempdir()) / "controlroom-policy-shots"


def booked(key: str) -> Run:
    doc = document(
        "pay",
        [node("book", "tool", tool="upsert_record", args={"kind": "invoice", "key": key})],
        [],
        subject="{{ input.contact }}",
    )
    run, _ = runs.run_start(flow=save(doc), input={"contact": "ada"})
    run = drive(run)
    assert run.status == "succeeded", run.error
    return run


def test_a_designer_simulates_a_policy_before_saving_and_enabling_it(
    page: Page, own_asgi_server: AsgiServer
) -> None:
    first, second = booked("inv-1"), booked("inv-2")
    user_ensure(username="dee", role=Role.DESIGNER, password=PASSWORD)
    base = own_asgi_server.url
    page.set_viewport_size({"width": 1400, "height": 1000})
    page.goto(f"{base}/login/")
    page.get_by_label("Username").fill("dee")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Policies").click()
    expect(page).to_have_url(f"{base}/policies/")
    expect(page.locator("#policy-rows")).to_contain_text("No policies yet")
    assert axe_violations(page) == []
    page.get_by_role("link", name="New policy").click()

    page.get_by_label("Slug", exact=True).fill("one-write-a-day")
    page.get_by_label("Name", exact=True).fill("One write per contact a day")
    page.get_by_label("Kind", exact=True).select_option("rate_limit")
    # A designer's policy applies to a flow, an agent or a tool (a global one is an admin's).
    expect(page.get_by_label("Scope", exact=True)).to_have_value("flow")
    page.get_by_label(re.compile(r"^Target\b")).fill("pay")
    page.get_by_label("Verdict", exact=True).select_option("block")
    page.get_by_label(re.compile(r"^Config\b")).fill(
        '{"categories": ["write"], "max": 1, "window": "24 hours"}'
    )
    page.get_by_role("button", name="Simulate", exact=True).click()
    # The bad window is shown on the config field; nothing ran, nothing was saved.
    expect(page.locator("#id_config_error")).to_contain_text("at /window")
    page.get_by_label(re.compile(r"^Config\b")).fill(
        '{"categories": ["write"], "max": 1, "window": "24h"}'
    )
    page.get_by_role("button", name="Simulate", exact=True).click()

    results = page.get_by_role("region", name=re.compile(r"^Simulation: 2 runs replayed"))
    expect(results).to_be_visible()
    expect(results.locator('[data-verdict="block"] .kpi-value')).to_have_text("1")
    expect(results.locator(f'tr[data-run="{second.id}"]')).to_have_attribute(
        "data-verdict", "block"
    )
    expect(results.locator(f'tr[data-run="{first.id}"]')).to_have_attribute("data-verdict", "allow")
    expect(results.locator(f'tr[data-run="{second.id}"]')).to_contain_text("1 of at most 1 calls")
    assert not Policy.objects.exists()
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "simulation.png"), full_page=True)
    assert axe_violations(page) == []

    page.get_by_role("button", name="Create policy").click()
    expect(page).to_have_url(f"{base}/policies/")
    row = page.locator('tr[data-policy="one-write-a-day"]')
    expect(row).to_contain_text("disabled")
    row.get_by_role("button", name=re.compile(r"^Enable")).click()
    expect(page.locator('tr[data-policy="one-write-a-day"]')).to_contain_text("enabled")
    assert Policy.objects.get().enabled

    page.locator('tr[data-policy="one-write-a-day"]').get_by_role(
        "link", name=re.compile(r"^Simulate")
    ).click()
    expect(page.locator(f'tr[data-run="{second.id}"]')).to_have_attribute("data-verdict", "block")
    page.locator(f'tr[data-run="{second.id}"] a').first.click()
    expect(page).to_have_url(f"{base}/runs/{second.id}/")
