"""Issue 14, finding 11: every page carries a Content-Security-Policy, and the pages work under it.

The policy (``SECURE_CSP`` in controlroom/settings/base.py) allows scripts and styles from our
own origin only: no ``'unsafe-inline'``, no ``'unsafe-eval'``, no nonce. The header tests ask the
real ASGI server for one page of every kind; the browser test walks the main pages in Chromium,
using each the way an operator does (drag a node, follow a run live, approve, read the charts,
open the API docs), and fails on any violation the browser reports — then proves the policy is
in force by injecting an inline script and a style attribute and watching both refused.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from django.http import HttpRequest, HttpResponse
from django.test import Client
from django.urls import include, path
from playwright.sync_api import ConsoleMessage, Page, expect

from controlroom.accounts import user_ensure
from controlroom.roles import Role
from flows.models import Approval, Flow, Run
from flows.versions import flow_save
from tests.support.browser import PASSWORD, log_in
from tests.support.stack import AsgiServer, ManagedProcess
from tests.support.wait import wait_for

ROOT = Path(__file__).resolve().parents[2]
PATIENCE_MS = 30_000
TEMPLATE_DIRS = (ROOT / "templates", ROOT / "agents", ROOT / "flows", ROOT / "controlroom")


# --- The header on every kind of response -------------------------------------------------------


def policy_of(header: str | None) -> dict[str, list[str]]:
    """``"a x y; b z"`` → ``{"a": ["x", "y"], "b": ["z"]}``; asserts the header is there."""
    assert header, "no Content-Security-Policy header"
    directives: dict[str, list[str]] = {}
    for part in header.split(";"):
        name, *values = part.split()
        directives[name.lower()] = values
    return directives


def assert_strict(header: str | None) -> None:
    """Scripts and styles only from our origin; no plugins, no framing, no <base> hijack."""
    directives = policy_of(header)
    for kind in ("script-src", "style-src"):
        sources = directives.get(kind, directives.get("default-src"))
        assert sources, f"{kind} is not restricted: {header}"
        loose = {"'unsafe-inline'", "'unsafe-eval'", "'unsafe-hashes'", "*", "data:", "http:"}
        assert not loose & set(sources), f"{kind} allows {loose & set(sources)}: {header}"
        assert not any(s.startswith(("http", "'sha")) for s in sources), header
    assert directives.get("object-src") == ["'none'"], header
    assert directives.get("frame-ancestors") == ["'none'"], header
    assert "base-uri" in directives, header


@pytest.fixture
def signed_in(page: Page, asgi_server: AsgiServer) -> Page:
    """The browser context of an admin signed in on the live server (real HTTP, real DB)."""
    user_ensure(username="ada", role=Role.ADMIN, password=PASSWORD)
    log_in(page, asgi_server.url, "ada")
    return page


@pytest.mark.django_db(transaction=True)
def test_anonymous_pages_and_error_pages_carry_a_strict_policy(
    page: Page, asgi_server: AsgiServer
) -> None:
    base = asgi_server.url
    answers = {
        "login": page.request.get(f"{base}/login/"),
        "admin login": page.request.get(f"{base}/admin/login/"),
        "redirect to login": page.request.get(f"{base}/flows/", max_redirects=0),
        "404": page.request.get(f"{base}/no-such-page/"),
        # CSRF failure: Django's 403 page
        "403": page.request.post(f"{base}/login/", form={"username": "x", "password": "y"}),
        # DisallowedHost: the 400 page CommonMiddleware answers with
        "400": page.request.get(f"{base}/login/", headers={"Host": "attacker.example"}),
        "static": page.request.get(f"{base}/static/css/app.css"),
        "health": page.request.get(f"{base}/healthz"),
    }
    expected = {"404": 404, "403": 403, "400": 400, "redirect to login": 302}
    for kind, response in answers.items():
        assert response.status == expected.get(kind, 200), (kind, response.status)
        assert_strict(response.headers.get("content-security-policy"))


@pytest.mark.django_db(transaction=True)
def test_signed_in_pages_api_docs_and_admin_carry_a_strict_policy(
    signed_in: Page, asgi_server: AsgiServer
) -> None:
    base = asgi_server.url
    for path_ in (
        "/",
        "/flows/",
        "/flows/new/",
        "/runs/",
        "/approvals/",
        "/roi/",
        "/audit/",
        "/agents/",
        "/policies/",
        "/connections/",
        "/api/docs",
        "/api/openapi.json",
        "/api/flows",
        "/admin/",
        "/admin/password_change/",
    ):
        response = signed_in.request.get(f"{base}{path_}")
        assert response.status == 200, (path_, response.status)
        assert_strict(response.headers.get("content-security-policy"))


def _boom(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("a bug in a view")


# This module is the URLconf of the 500 test: the real URLs plus one view that fails.
urlpatterns = [path("boom/", _boom), path("", include("controlroom.urls"))]


@pytest.mark.urls(__name__)
def test_the_server_error_page_carries_the_policy(db: None) -> None:
    response = Client(raise_request_exception=False).get("/boom/")
    assert response.status_code == 500
    assert_strict(response.headers.get("Content-Security-Policy"))


# --- What the policy relies on: no inline code in any template ------------------------------


INLINE = {
    "inline <script>": re.compile(
        r"<script(?![^>]*\bsrc=)(?![^>]*type=\"application/json\")[^>]*>", re.I
    ),
    "on* handler": re.compile(r"\son[a-z]+\s*=", re.I),
    "javascript: URL": re.compile(r"javascript:", re.I),
    "hx-on": re.compile(r"\bhx-on", re.I),
    "js: in hx-vals/hx-headers": re.compile(r"hx-(?:vals|headers)=['\"]\s*(?:js|javascript):"),
    "style attribute": re.compile(r"\sstyle\s*=", re.I),
    "<style> element": re.compile(r"<style[\s>]", re.I),
}


def test_no_template_holds_code_or_styles_the_policy_would_refuse() -> None:
    templates = [p for d in TEMPLATE_DIRS for p in d.rglob("*.html") if ".venv" not in p.parts]
    assert len(templates) > 40
    found = [
        f"{template.relative_to(ROOT)}: {what}"
        for template in templates
        for what, pattern in INLINE.items()
        if pattern.search(template.read_text())
    ]
    assert found == []
    base = (ROOT / "templates" / "base.html").read_text()
    meta = re.search(r"<meta name=\"htmx-config\" content='([^']*)'>", base)
    assert meta is not None
    config = json.loads(meta.group(1))
    # htmx would otherwise eval hx-vals "js:" / hx-on and inject an indicator <style>
    assert config["allowEval"] is False
    assert config["includeIndicatorStyles"] is False


# --- A real browser on the main pages -------------------------------------------------------------

# Runs in every document before its own scripts: keeps what the browser reports.
RECORD_VIOLATIONS = """
window.__csp = [];
document.addEventListener('securitypolicyviolation', function (e) {
  window.__csp.push(e.violatedDirective + ' ' + (e.blockedURI || 'inline') + ' at ' +
                    e.sourceFile + ':' + e.lineNumber);
}, true);
"""


class Violations:
    """CSP reports of one page, from the console and from ``securitypolicyviolation`` events."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.console: list[str] = []
        page.add_init_script(RECORD_VIOLATIONS)
        page.on("console", self._console)

    def _console(self, message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text:
            self.console.append(f"{self.page.url}: {message.text}")

    def in_document(self) -> list[str]:
        return list(self.page.evaluate("window.__csp || []"))

    def assert_none(self, where: str) -> None:
        events = self.in_document()
        assert (events, self.console) == ([], []), where


@pytest.fixture
def lead_flow() -> Flow:
    document = json.loads((ROOT / "flows" / "demo" / "lead-to-meeting.json").read_text())
    flow, _ = flow_save(document=document)
    return flow


@pytest.mark.django_db(transaction=True)
def test_the_main_pages_work_in_chromium_without_a_single_violation(
    page: Page,
    asgi_server: AsgiServer,
    celery_worker: ManagedProcess,
    celery_beat: ManagedProcess,
    lead_flow: Flow,
) -> None:
    base = asgi_server.url
    user_ensure(username="ada", role=Role.ADMIN, password=PASSWORD)
    seen = Violations(page)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))

    page.goto(f"{base}/login/")
    seen.assert_none("login")
    # A form sent without its CSRF cookie: Django's failure page, in our own template.
    page.context.clear_cookies()
    page.get_by_label("Username").fill("ada")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="This form expired")).to_be_visible()
    seen.assert_none("CSRF failure page")
    log_in(page, base, "ada")
    expect(page.locator("body")).to_have_attribute("data-live", "open")  # ws: under 'self'
    seen.assert_none("home")

    # The editor island: React Flow renders the demo flow, a node is dragged across the canvas.
    page.goto(f"{base}/flows/")
    seen.assert_none("flows list")
    page.goto(f"{base}/flows/{lead_flow.slug}/edit/")
    node = page.locator('.react-flow__node[data-id="enrich"]')
    expect(node).to_be_visible()
    before = node.bounding_box()
    assert before is not None
    page.mouse.move(before["x"] + 20, before["y"] + 10)
    page.mouse.down()
    page.mouse.move(before["x"] + 140, before["y"] + 90, steps=10)
    page.mouse.up()
    wait_for(
        lambda: (box := node.bounding_box()) is not None and box["x"] > before["x"] + 60,
        message="the dragged node to move",
    )
    seen.assert_none("editor")

    # The run page follows the run over the websocket until it waits for the review.
    page.goto(f"{base}/flows/{lead_flow.slug}/")
    page.get_by_role("button", name="Start run").click()
    page.wait_for_url(re.compile(r"/runs/[0-9a-f-]{36}/$"))
    expect(page.locator("body")).to_have_attribute("data-live", "open")
    expect(page.locator("#node-review")).to_have_attribute(
        "data-state", "waiting", timeout=PATIENCE_MS
    )
    seen.assert_none("run page")

    # The inbox: approve the draft; the run finishes.
    approval = Approval.objects.get()
    page.goto(f"{base}/approvals/{approval.id}/")
    page.get_by_role("button", name="Approve", exact=True).click()
    wait_for(
        lambda: Run.objects.get().status == "succeeded",
        timeout=PATIENCE_MS / 1000,
        message="the approved run to finish",
    )
    seen.assert_none("inbox")

    # ROI: Chart.js draws every chart.
    page.goto(f"{base}/flows/{lead_flow.slug}/roi/")
    for chart in ("trend", "versions", "models"):
        page.wait_for_function(
            "(name) => window.Chart && !!Chart.getChart("
            "document.querySelector(`[data-roi-chart='${name}']`))",
            arg=chart,
        )
    seen.assert_none("roi")

    for path_ in ("/audit/", "/agents/", "/policies/", "/connections/", "/no-such-page/"):
        page.goto(f"{base}{path_}")
        page.wait_for_load_state("networkidle")
        seen.assert_none(path_)

    # Swagger UI, served from our origin, renders the spec.
    page.goto(f"{base}/api/docs")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Agent Ops Control Room API")
    expect(page.locator(".opblock").first).to_be_visible()
    seen.assert_none("api docs")

    page.goto(f"{base}/admin/")
    expect(page.locator("#site-name")).to_be_visible()
    page.goto(f"{base}/admin/password_change/")
    page.wait_for_load_state("networkidle")
    seen.assert_none("admin")
    assert errors == []

    # And the policy is in force: injected inline code and style attributes are refused.
    page.goto(f"{base}/")
    injected: dict[str, Any] = page.evaluate(
        """() => {
          const script = document.createElement('script');
          script.textContent = 'window.__inlineRan = true';
          document.body.append(script);
          const box = document.createElement('div');
          box.innerHTML = '<p id="styled" style="color: rgb(255, 0, 0)">x</p>';
          document.body.append(box);
          return {ran: window.__inlineRan === true,
                  color: getComputedStyle(document.getElementById('styled')).color};
        }"""
    )
    assert injected == {"ran": False, "color": injected["color"]}
    assert injected["color"] != "rgb(255, 0, 0)"
    wait_for(lambda: len(seen.in_document()) >= 2, message="the browser to report both")
    refused = " ".join(seen.in_document())
    assert "script-src" in refused and "style-src" in refused, refused
