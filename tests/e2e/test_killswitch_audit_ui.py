"""The kill switch and the audit log in a real browser against the real ASGI server: an admin
pauses everything from the top bar (every page shows the banner), finds the pause on the
audit page, resumes; a flow is paused from its page; the pages pass axe-core's WCAG rules."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from controlroom.accounts import user_ensure
from controlroom.roles import Role
from tests.e2e.test_agents_ui import PASSWORD, axe_violations, log_in
from tests.support.flows import document, node, save
from tests.support.stack import AsgiServer

# committed rows: the web server process reads them through its own connection
pytestmark = pytest.mark.django_db(transaction=True)


def test_an_admin_pauses_everything_sees_it_audited_and_resumes(
    page: Page, asgi_server: AsgiServer
) -> None:
    user_ensure(username="grace", role=Role.ADMIN, password=PASSWORD)
    save(document("newsletter", [node("done", "end")], []))
    base = asgi_server.url
    log_in(page, base, "grace")

    page.goto(f"{base}/flows/newsletter/")
    page.get_by_role("button", name="Pause flow").click()
    expect(page.locator("#flow-paused-tag")).to_contain_text("paused by grace")
    expect(page.get_by_role("button", name="Resume flow")).to_be_visible()

    page.get_by_text("Kill switch", exact=True).click()
    page.get_by_label("Why pause everything?").fill("incident 7: bad outbound template")
    page.get_by_role("button", name="Pause everything").click()
    banner = page.locator("#kill-switch-banner")
    expect(banner).to_contain_text("Everything is paused")
    expect(banner).to_contain_text("incident 7")
    assert axe_violations(page) == []

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Audit").click()
    expect(page).to_have_url(f"{base}/audit/")
    expect(page.locator("#kill-switch-banner")).to_be_visible()  # on every page
    page.get_by_label("Kind").select_option("config")
    page.get_by_role("button", name="Apply").click()
    rows = page.locator(".audit-table tbody")
    expect(rows).to_contain_text("global.paused")
    expect(rows).to_contain_text("flow.paused")
    assert axe_violations(page) == []

    page.get_by_role("button", name="Resume everything").click()
    expect(page.locator("#kill-switch-banner")).to_have_count(0)
    expect(page).to_have_url(
        re.compile(re.escape(f"{base}/audit/?kind=config"))
    )  # back where it was
