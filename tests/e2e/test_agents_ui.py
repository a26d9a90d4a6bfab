"""The agents pages in a real browser against the real ASGI server: an admin creates an agent
through the form, finds it in the list, edits it (a broken template is refused inline first),
and archives it; and every page of the section passes axe-core's WCAG 2.1 A/AA rules."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from agents import secrets
from agents.agents import agent_create
from agents.connections import connection_create
from agents.knowledge import knowledge_base_ensure, knowledge_document_add
from agents.ledger import effect_once
from agents.mcp import mcp_server_list_tools
from agents.mcp_servers import mcp_server_create
from agents.models import Agent, OutboxMessage
from controlroom.accounts import user_ensure
from controlroom.roles import Role
from tests.support.browser import PASSWORD, axe_violations, log_in
from tests.support.stack import AsgiServer

# committed rows: the web server process reads them through its own connection
pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parents[2]


def test_an_admin_creates_lists_edits_and_archives_an_agent(
    page: Page, asgi_server: AsgiServer
) -> None:
    user_ensure(username="grace", role=Role.ADMIN, password=PASSWORD)
    base = asgi_server.url
    log_in(page, base, "grace")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Agents").click()
    expect(page).to_have_url(f"{base}/agents/")
    expect(page.locator("#agent-rows")).to_contain_text("No agents yet")
    page.get_by_role("link", name="New agent").click()

    assert axe_violations(page) == []
    # The form starts on the offline provider, so no key is needed.
    expect(page.get_by_label("Provider", exact=True)).to_have_value("scripted")
    expect(page.get_by_label("Text", exact=True)).to_be_checked()
    page.get_by_label("Slug", exact=True).fill("triage")
    page.get_by_label("Name", exact=True).fill("Ticket triage")
    page.get_by_label(re.compile(r"^Role\b")).fill("Sorts incoming tickets")
    page.get_by_label(re.compile(r"^Instructions\b")).fill("Triage tickets for {{ input.team }}.")
    page.get_by_label("Input price per 1k tokens", exact=True).fill("0.0025")
    page.get_by_role("checkbox", name=re.compile(r"^knowledge_search\b")).check()
    page.get_by_label(re.compile(r"^Script\b")).fill('{"responses": ["Billing."]}')
    page.get_by_role("button", name="Create agent").click()

    expect(page).to_have_url(f"{base}/agents/triage/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Ticket triage")
    expect(page.locator(".meta-line")).to_contain_text("offline (scripted)")
    expect(page.get_by_role("region", name="Allowed tools")).to_contain_text("knowledge_search")

    # The list shows it, with the provider in words.
    page.get_by_role("navigation", name="Agents and tools").get_by_role(
        "link", name="Agents"
    ).click()
    row = page.locator("#agent-row-triage")
    expect(row).to_contain_text("Ticket triage")
    expect(row).to_contain_text("offline (scripted)")
    expect(row).to_contain_text("$0.0025")

    # Edit: a template that does not parse is refused next to its field, then fixed.
    row.get_by_role("link", name=re.compile("^Edit")).click()
    expect(page).to_have_url(f"{base}/agents/triage/edit/")
    expect(page.get_by_label("Slug", exact=True)).to_be_disabled()
    instructions = page.get_by_label(re.compile(r"^Instructions\b"))
    instructions.fill("Triage for {{ input.team ")
    page.get_by_role("button", name="Save agent").click()
    expect(page.locator("#id_instructions_error")).to_contain_text("template syntax error")
    expect(instructions).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_role("alert")).to_contain_text("The agent was not saved")
    assert axe_violations(page) == []  # the form with its errors, too
    assert Agent.objects.get(slug="triage").instructions == "Triage tickets for {{ input.team }}."
    instructions.fill("Triage for {{ input.team }}, briefly.")
    page.get_by_role("button", name="Save agent").click()
    expect(page).to_have_url(f"{base}/agents/triage/")
    expect(page.get_by_role("region", name="Instructions")).to_contain_text(
        "Triage for {{ input.team }}, briefly."
    )

    # Archive: it leaves the default list and shows under "Archived".
    page.get_by_role("button", name="Archive").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("archived")
    page.get_by_role("navigation", name="Agents and tools").get_by_role(
        "link", name="Agents"
    ).click()
    expect(page.locator("#agent-row-triage")).to_have_count(0)
    page.get_by_label("Show", exact=True).select_option("archived")
    page.get_by_role("button", name="Apply").click()
    expect(page.locator("#agent-row-triage")).to_contain_text("archived")
    assert Agent.objects.get(slug="triage").archived


def seed_section() -> None:
    """One of everything the section lists, made through the domain functions."""
    secrets.secret_set(name="openai-key", value="sk-test-0123456789abcdef", description="OpenAI")
    connection_create(slug="openai-main", kind="openai", api_key="openai-key")
    agent_create(
        values={
            "slug": "qualifier",
            "name": "Lead qualifier",
            "output_mode": "json",
            "output_schema": {"type": "object"},
            "tools": ["knowledge_search"],
            "script": {"responses": [{"score": 80}]},
        }
    )
    server = mcp_server_create(
        slug="orders",
        name="Orders",
        transport="stdio",
        command=sys.executable,
        args=[str(ROOT / "tests" / "support" / "mcp_server.py"), "stdio"],
        category="payment",
    )
    mcp_server_list_tools(server)
    base = knowledge_base_ensure(slug="support", name="Support")
    knowledge_document_add(base=base, title="Refunds", body="Refunds take 14 days.", source="a.md")

    def message(effect: Any) -> dict[str, Any]:
        row = OutboxMessage.objects.create(effect=effect, to="ada@example.com", body="Hello")
        return {"id": row.id}

    effect_once(
        key="e2e:1",
        tool="send_email",
        category="outbound_message",
        subject="",
        args={},
        act=message,
    )


SECTION_PAGES = [
    "/agents/",
    "/agents/qualifier/",
    "/agents/qualifier/edit/",
    "/connections/",
    "/connections/new/",
    "/secrets/",
    "/mcp/",
    "/mcp/orders/",
    "/mcp/new/",
    "/knowledge/",
    "/knowledge/support/?q=refunds",
    "/outbox/",
]


def test_every_page_of_the_section_passes_axe(page: Page, asgi_server: AsgiServer) -> None:
    seed_section()
    user_ensure(username="grace", role=Role.ADMIN, password=PASSWORD)
    log_in(page, asgi_server.url, "grace")
    found = {}
    for path in SECTION_PAGES:
        page.goto(asgi_server.url + path)
        expect(page.get_by_role("navigation", name="Agents and tools")).to_be_visible()
        violations = axe_violations(page)
        if violations:
            found[path] = violations
    assert found == {}
