"""Review time in Chromium against the real stack (uvicorn, a Celery worker): the time an
approval sits in a tab the approver left for another one is not review time.

Headless Chromium keeps ``document.visibilityState`` "visible" for every page whatever is in
front (tabs, minimising, lifecycle freezing were tried), so the approver leaves the way a
headless browser can show for real: with Playwright's focus emulation turned off, bringing
another page to the front takes the window focus from the inbox (a real ``blur``,
``document.hasFocus()`` false) and bringing the inbox back returns it.
"""

from __future__ import annotations

import time

import pytest
from playwright.sync_api import Browser, Page, expect

from controlroom.accounts import user_ensure
from controlroom.roles import Role
from flows.engine import runs
from flows.models import Approval
from tests.support.approvals import review_flow
from tests.support.browser import PASSWORD, log_in
from tests.support.flows import save
from tests.support.stack import AsgiServer, ManagedProcess
from tests.support.wait import wait_for

# committed rows: the web server and worker processes read them through their own connections
pytestmark = pytest.mark.django_db(transaction=True)

AWAY_S = 20
ACTIVE_S = 4


def busy(page: Page, seconds: float) -> None:
    """Someone reading and moving the pointer over the page for ``seconds``."""
    end = time.monotonic() + seconds
    x = 200
    while time.monotonic() < end:
        x = 600 if x == 200 else 200
        page.mouse.move(x, 300)
        page.wait_for_timeout(400)


def test_time_in_a_tab_left_for_another_is_not_review_time(
    browser: Browser, asgi_server: AsgiServer, celery_worker: ManagedProcess
) -> None:
    base = asgi_server.url
    ada = user_ensure(username="ada", role=Role.APPROVER, password=PASSWORD)
    run, _ = runs.run_start(
        flow=save(review_flow("reviewed")), input={"topic": "pricing"}, user=ada
    )
    approval = wait_for(lambda: Approval.objects.filter(run=run, status="pending").first())

    context = browser.new_context()
    inbox = context.new_page()
    log_in(inbox, base, "ada")
    opened = time.monotonic()
    inbox.goto(f"{base}/approvals/{approval.id}/")
    expect(inbox.locator("#inbox-detail")).to_have_attribute(
        "data-review-url", f"/approvals/{approval.id}/seen/"
    )
    # Real window focus from here on (set after navigating: a new document gets the default).
    context.new_cdp_session(inbox).send("Emulation.setFocusEmulationEnabled", {"enabled": False})
    inbox.bring_to_front()
    assert inbox.evaluate("document.hasFocus()")
    busy(inbox, ACTIVE_S)

    other = context.new_page()  # the approver reads something else meanwhile
    other.goto(f"{base}/runs/")
    other.bring_to_front()
    assert inbox.evaluate("document.hasFocus()") is False
    other.wait_for_timeout(AWAY_S * 1000)

    inbox.bring_to_front()
    assert inbox.evaluate("document.hasFocus()")
    busy(inbox, ACTIVE_S)
    inbox.get_by_role("button", name="Approve", exact=True).click()
    expect(inbox.locator("#inbox-detail")).to_contain_text("Approved: Post about pricing")
    wall_ms = (time.monotonic() - opened) * 1000

    approval.refresh_from_db()
    assert approval.status == "approved" and approval.review_source == "inbox"
    assert approval.review_ms is not None
    # Both active stretches (about 2 x ACTIVE_S, plus the click), not the AWAY_S away.
    assert 2 * ACTIVE_S * 1000 - 2_000 <= approval.review_ms <= 2 * ACTIVE_S * 1000 + 4_000
    assert approval.review_ms <= wall_ms - (AWAY_S - 2) * 1000
    context.close()
