"""What the browser tests share: signing in through the form, and axe-core's verdict on a page."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from playwright.sync_api import Page, expect

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "correct-horse-battery"
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
AXE_RUN = """async () => {
  const result = await axe.run(document, {
    runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']},
  });
  return result.violations.map(v => ({
    id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.slice(0, 5).map(n => n.target.join(' ')),
  }));
}"""


def axe_inject(page: Page) -> None:
    """Load axe-core (from npm) into the page as the test harness, not as page content: the
    pages' Content-Security-Policy refuses an inline <script> (``page.add_script_tag``), while
    code the harness evaluates is outside its reach."""
    assert AXE.exists(), "run `make assets` (npm install) first"
    page.evaluate(AXE.read_text())


def axe_violations(page: Page) -> list[dict[str, Any]]:
    """What axe-core (from npm) finds wrong with the page as it is now."""
    page.wait_for_load_state()  # styles applied and deferred scripts run: judge the finished page
    axe_inject(page)
    return list(page.evaluate(AXE_RUN))


def log_in(page: Page, base: str, username: str) -> None:
    """Sign in through the login form (the user must exist with ``PASSWORD``)."""
    page.goto(f"{base}/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{base}/")
