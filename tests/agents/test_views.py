"""The agents pages: agents, connections, secrets, MCP servers, knowledge, outbox — who may see
and change what, forms that show their errors inline, and secret values that never come back."""

from __future__ import annotations

import re
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from agents import secrets
from agents.agents import agent_create
from agents.connections import connection_create
from agents.knowledge import knowledge_base_ensure, knowledge_document_add
from agents.ledger import effect_once
from agents.models import Agent, KnowledgeDocument, McpServer, OutboxMessage, ProviderConnection
from controlroom.accounts import user_ensure
from controlroom.roles import Role
from flows.versions import flow_save

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
SECRET_VALUE = "sk-live-Zq81-never-show-this-value-anywhere"


@pytest.fixture
def cast() -> dict[str, Any]:
    """One user per role, plus an outsider with no role."""
    users = {role.value: user_ensure(username=role.value, role=role) for role in Role}
    users["outsider"] = get_user_model().objects.create_user(username="outsider")
    return users


def client_for(user: Any, *, csrf: bool = False) -> Client:
    client = Client(enforce_csrf_checks=csrf)
    client.force_login(user)
    return client


def form_data(**overrides: Any) -> dict[str, Any]:
    """What the agent form posts for a small scripted agent."""
    data = {
        "slug": "triage",
        "name": "Triage",
        "role": "Sorts incoming tickets",
        "provider": "scripted",
        "model": "scripted-1",
        "connection": "",
        "temperature": "0.2",
        "max_tokens": "1024",
        "max_turns": "6",
        "price_in_per_1k": "0.0025",
        "price_out_per_1k": "0.01",
        "instructions": "You triage tickets for {{ input.team }}.",
        "memory_scope": "",
        "output_mode": "text",
        "json_mode": "auto",
        "output_schema": "",
        "cascade": "",
        "confidence": "",
        "min_confidence": "",
        "check_condition": "",
        "script": '{"responses": ["Looks like billing."]}',
    }
    data.update(overrides)
    return data


def make_agent(slug: str = "writer", **values: Any) -> Agent:
    return agent_create(
        values={"slug": slug, "name": slug.title(), "script": {"responses": ["hi"]}, **values}
    )


def page_text(response: Any) -> str:
    return str(response.content.decode())


# --- who may see what -----------------------------------------------------------------------------

READ_PAGES = [
    "/agents/",
    "/agents/writer/",
    "/connections/",
    "/secrets/",
    "/mcp/",
    "/knowledge/",
    "/knowledge/docs/",
    "/outbox/",
]
DESIGN_PAGES = ["/agents/new/", "/agents/writer/edit/", "/connections/new/"]
ADMIN_PAGES = ["/mcp/new/"]


@pytest.fixture
def objects() -> None:
    make_agent()
    knowledge_base_ensure(slug="docs", name="Docs")


@pytest.mark.parametrize("path", READ_PAGES + DESIGN_PAGES + ADMIN_PAGES)
def test_pages_send_anonymous_users_to_the_login_form(
    client: Client, objects: None, path: str
) -> None:
    response = client.get(path)
    assert response.status_code == 302
    assert response["Location"].startswith("/login/?next=")


@pytest.mark.parametrize("path", READ_PAGES + DESIGN_PAGES + ADMIN_PAGES)
def test_a_user_without_a_role_sees_nothing(cast: dict[str, Any], objects: None, path: str) -> None:
    assert client_for(cast["outsider"]).get(path).status_code == 403


@pytest.mark.parametrize("path", READ_PAGES)
def test_every_role_reads_every_page(cast: dict[str, Any], objects: None, path: str) -> None:
    for role in Role:
        response = client_for(cast[role.value]).get(path)
        assert response.status_code == 200, (role, path)
        assert 'aria-current="page">Agents</a>' in page_text(response)  # main nav


@pytest.mark.parametrize("path", DESIGN_PAGES)
def test_design_forms_are_for_designers_and_admins(
    cast: dict[str, Any], objects: None, path: str
) -> None:
    for role in Role:
        status = client_for(cast[role.value]).get(path).status_code
        assert status == (200 if role in (Role.ADMIN, Role.DESIGNER) else 403), (role, path)


def test_only_admins_register_mcp_servers(cast: dict[str, Any]) -> None:
    for role in Role:
        status = client_for(cast[role.value]).get("/mcp/new/").status_code
        assert status == (200 if role == Role.ADMIN else 403), role


def test_read_only_roles_get_no_write_controls(cast: dict[str, Any], objects: None) -> None:
    for role in ("viewer", "approver"):
        client = client_for(cast[role])
        listing = page_text(client.get("/agents/"))
        detail = page_text(client.get("/agents/writer/"))
        assert "/agents/new/" not in listing and "/agents/writer/edit/" not in listing
        assert "/agents/writer/archive/" not in detail
    designer = client_for(cast["designer"])
    assert "/agents/writer/archive/" in page_text(designer.get("/agents/writer/"))
    assert 'name="value"' not in page_text(designer.get("/secrets/"))  # admins only


@pytest.mark.parametrize(
    "path,data",
    [
        ("/agents/new/", form_data()),
        ("/agents/writer/edit/", form_data(slug="writer")),
        ("/agents/writer/archive/", {"archived": "1"}),
        ("/connections/new/", {"slug": "c", "kind": "openai", "timeout_seconds": "30"}),
        ("/knowledge/", {"slug": "kb", "name": "KB"}),
    ],
)
def test_read_only_roles_cannot_post_design_changes(
    cast: dict[str, Any], objects: None, path: str, data: dict[str, Any]
) -> None:
    for role in ("viewer", "approver", "outsider"):
        assert client_for(cast[role]).post(path, data).status_code == 403, (role, path)
    agent = Agent.objects.get(slug="writer")
    assert not agent.archived and agent.instructions == ""
    assert not Agent.objects.filter(slug="triage").exists()
    assert not ProviderConnection.objects.exists()


def test_forged_posts_without_the_csrf_token_are_refused(
    cast: dict[str, Any], objects: None
) -> None:
    admin = client_for(cast["admin"], csrf=True)
    forged = [
        ("/agents/new/", form_data()),
        ("/agents/writer/archive/", {"archived": "1"}),
        ("/secrets/", {"name": "forged", "value": "x" * 10}),
        ("/knowledge/", {"slug": "kb", "name": "KB"}),
    ]
    for path, data in forged:
        assert admin.post(path, data).status_code == 403, path
    assert not Agent.objects.filter(slug="triage").exists()
    assert not Agent.objects.get(slug="writer").archived
    assert secrets.Secret.objects.filter(name="forged").count() == 0


# --- agents ---------------------------------------------------------------------------------------


def test_a_designer_creates_a_scripted_agent_through_the_form(cast: dict[str, Any]) -> None:
    client = client_for(cast["designer"])
    response = client.post("/agents/new/", form_data(), follow=True)
    assert response.redirect_chain[-1][0] == "/agents/triage/"
    agent = Agent.objects.get(slug="triage")
    assert agent.price_in_per_1k == Decimal("0.0025")
    assert agent.script == {"responses": ["Looks like billing."]}
    text = page_text(response)
    assert "offline (scripted)" in text
    assert "You triage tickets for {{ input.team }}." in text
    assert "$0.0025" in text
    assert "offline (scripted)" in page_text(client.get("/agents/"))


@pytest.mark.parametrize(
    "field,value,message",
    [
        ("instructions", "Hello {{ input.name", "template syntax error"),
        ("memory_scope", "contact:{% if %}", "template syntax error"),
        ("output_schema", '{"type": "nonsense"}', "not a valid JSON Schema"),
        ("output_schema", '{"type": ', "not valid JSON"),
        ("script", '{"responses": [], "bogus": 1}', "unknown key"),
        ("provider", "gpt", "Select a valid choice"),
        ("temperature", "7", "must be from 0 to 2"),
        ("check_condition", "output.score >", "condition syntax error"),
    ],
)
def test_bad_input_is_shown_inline_next_to_its_field(
    cast: dict[str, Any], field: str, value: str, message: str
) -> None:
    overrides = {field: value}
    if field == "output_schema":
        overrides["output_mode"] = "json"
    response = client_for(cast["designer"]).post("/agents/new/", form_data(**overrides))
    assert response.status_code == 422
    text = page_text(response)
    error = re.search(rf'id="id_{field}_error">(.*?)</div>', text, re.S)
    assert error and message in error.group(1), text[:3000]
    assert re.search(
        rf'<(?:input|textarea|select)[^>]*aria-invalid="true"[^>]*id="id_{field}"', text
    ) or (re.search(rf'id="id_{field}"[^>]*aria-invalid="true"', text))
    assert not Agent.objects.filter(slug="triage").exists()


def test_one_submit_shows_every_problem(cast: dict[str, Any]) -> None:
    response = client_for(cast["designer"]).post(
        "/agents/new/", form_data(script="{not json", instructions="{{ oops")
    )
    assert response.status_code == 422
    text = page_text(response)
    assert 'id="id_script_error"' in text and 'id="id_instructions_error"' in text
    assert "2 fields need attention" in text


def test_a_new_agent_form_starts_from_the_defaults(cast: dict[str, Any]) -> None:
    text = page_text(client_for(cast["designer"]).get("/agents/new/"))
    assert re.search(r'value="text"[^>]*checked', text)
    assert re.search(r'<option value="scripted" selected>offline \(scripted\)</option>', text)


def test_json_output_with_a_valid_schema_is_saved(cast: dict[str, Any]) -> None:
    schema = '{"type": "object", "required": ["team"], "properties": {"team": {"type": "string"}}}'
    response = client_for(cast["admin"]).post(
        "/agents/new/", form_data(output_mode="json", output_schema=schema)
    )
    assert response.status_code == 302
    assert Agent.objects.get(slug="triage").output_schema["required"] == ["team"]


def test_a_taken_slug_is_a_conflict_shown_on_the_slug(cast: dict[str, Any]) -> None:
    make_agent("triage")
    Agent.objects.filter(slug="triage").update(archived=True)  # archived slugs stay taken
    response = client_for(cast["designer"]).post("/agents/new/", form_data())
    assert response.status_code == 409
    assert "exists already" in page_text(response)
    assert Agent.objects.filter(slug="triage").count() == 1


def test_allowed_tools_are_chosen_from_the_registry(cast: dict[str, Any]) -> None:
    client = client_for(cast["designer"])
    page = page_text(client.get("/agents/new/"))
    assert 'value="knowledge_search"' in page and 'value="send_email"' in page
    response = client.post("/agents/new/", form_data(tools=["knowledge_search", "send_email"]))
    assert response.status_code == 302
    assert Agent.objects.get(slug="triage").tools == ["knowledge_search", "send_email"]
    refused = client.post("/agents/new/", form_data(slug="other", tools=["rm_rf"]))
    assert refused.status_code == 422


def test_editing_an_agent_leaves_saved_flow_versions_alone(cast: dict[str, Any]) -> None:
    make_agent("writer", instructions="Version one.")
    document = {
        "schema": "controlroom.flow/v1",
        "slug": "uses-writer",
        "name": "Uses writer",
        "nodes": [
            {"id": "write", "type": "agent", "config": {"agent": "writer", "prompt": "go"}},
            {"id": "done", "type": "end"},
        ],
        "edges": [{"from": "write", "to": "done"}],
    }
    _, version = flow_save(document=document)
    assert version.frozen_agents["writer"]["instructions"] == "Version one."

    client = client_for(cast["designer"])
    edit_page = page_text(client.get("/agents/writer/edit/"))
    assert "Version one." in edit_page and "disabled" in edit_page  # the slug cannot change
    response = client.post(
        "/agents/writer/edit/", form_data(slug="ignored", name="Writer", instructions="Two.")
    )
    assert response.status_code == 302
    agent = Agent.objects.get(slug="writer")
    assert agent.instructions == "Two." and agent.slug == "writer"
    version.refresh_from_db()
    assert version.frozen_agents["writer"]["instructions"] == "Version one."


def test_archived_agents_are_hidden_until_asked_for(cast: dict[str, Any]) -> None:
    make_agent("old")
    make_agent("current")
    client = client_for(cast["designer"])
    response = client.post("/agents/old/archive/", {"archived": "1"}, follow=True)
    assert "archived" in page_text(response)
    assert Agent.objects.get(slug="old").archived
    active = page_text(client.get("/agents/"))
    assert 'id="agent-row-current"' in active and 'id="agent-row-old"' not in active
    archived = page_text(client.get("/agents/?status=archived"))
    assert 'id="agent-row-old"' in archived and 'id="agent-row-current"' not in archived
    client.post("/agents/old/archive/", {"archived": "0"})
    assert not Agent.objects.get(slug="old").archived


def test_the_list_filters_by_text_and_provider(cast: dict[str, Any]) -> None:
    make_agent("billing-bot", role="Answers invoices")
    make_agent("sales-bot")
    client = client_for(cast["viewer"])
    text = page_text(client.get("/agents/?q=invoice"))
    assert 'id="agent-row-billing-bot"' in text and 'id="agent-row-sales-bot"' not in text
    none = page_text(client.get("/agents/?provider=anthropic"))
    assert "No agent matches these filters" in none


def test_markup_in_an_agent_is_shown_as_text(cast: dict[str, Any]) -> None:
    make_agent("xss", role="<img src=x onerror=alert(1)>", instructions="<script>alert(1)</script>")
    text = page_text(client_for(cast["viewer"]).get("/agents/xss/"))
    assert "<script>alert(1)</script>" not in text and "<img src=x" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text


# --- secrets --------------------------------------------------------------------------------------


def test_a_secret_value_never_appears_in_any_page(cast: dict[str, Any]) -> None:
    admin = client_for(cast["admin"])
    saved = admin.post(
        "/secrets/", {"name": "openai-key", "description": "OpenAI", "value": SECRET_VALUE}
    )
    assert saved.status_code == 302
    assert secrets.secret_reveal("openai-key") == SECRET_VALUE  # stored, encrypted
    # A failed save re-renders the form, without the value in it.
    failed = admin.post("/secrets/", {"name": "bad name!", "value": SECRET_VALUE})
    assert failed.status_code == 422
    connection_create(slug="openai", kind="openai", api_key="openai-key")
    bodies = [saved.content, failed.content]
    for path in [
        "/secrets/",
        "/secrets/?name=openai-key",
        "/connections/",
        "/connections/new/",
        "/connections/openai/edit/",
        "/agents/new/",
        "/mcp/new/",
    ]:
        response = admin.get(path)
        assert response.status_code == 200, path
        bodies.append(response.content)
    for body in bodies:
        assert SECRET_VALUE.encode() not in body
        assert b"Zq81" not in body
    listing = page_text(admin.get("/secrets/"))
    assert "openai-key" in listing and "OpenAI" in listing and ">set<" in listing
    assert 'type="password"' in listing and 'autocomplete="new-password"' in listing


def test_only_admins_write_secrets(cast: dict[str, Any]) -> None:
    for role in ("designer", "approver", "viewer"):
        client = client_for(cast[role])
        assert client.post("/secrets/", {"name": "k", "value": "v" * 8}).status_code == 403
    secrets.secret_set(name="keep", value="v" * 8)
    assert client_for(cast["designer"]).post("/secrets/keep/delete/").status_code == 403
    assert secrets.Secret.objects.filter(name="keep").exists()


def test_replacing_and_deleting_a_secret(cast: dict[str, Any]) -> None:
    admin = client_for(cast["admin"])
    admin.post("/secrets/", {"name": "k", "value": "first-value"})
    admin.post("/secrets/", {"name": "k", "value": "second-value", "description": "now"})
    assert secrets.secret_reveal("k") == "second-value"
    response = admin.post("/secrets/k/delete/", follow=True)
    assert "Secret k deleted" in page_text(response)
    assert not secrets.Secret.objects.filter(name="k").exists()


def test_a_secret_in_use_is_not_deleted(cast: dict[str, Any]) -> None:
    secrets.secret_set(name="anthropic-key", value="v" * 12)
    connection_create(slug="claude", kind="anthropic", api_key="anthropic-key")
    response = client_for(cast["admin"]).post("/secrets/anthropic-key/delete/", follow=True)
    assert "in use by claude" in page_text(response)
    assert secrets.Secret.objects.filter(name="anthropic-key").exists()


# --- connections ----------------------------------------------------------------------------------


def test_a_designer_adds_and_edits_a_connection(cast: dict[str, Any]) -> None:
    secrets.secret_set(name="gateway-key", value="v" * 12)
    client = client_for(cast["designer"])
    assert "gateway-key" in page_text(client.get("/connections/new/"))
    data = {
        "slug": "gateway",
        "kind": "openai",
        "base_url": "http://127.0.0.1:11434/v1",
        "api_key": "gateway-key",
        "timeout_seconds": "30",
    }
    assert client.post("/connections/new/", data).status_code == 302
    connection = ProviderConnection.objects.get(slug="gateway")
    assert connection.api_key is not None and connection.api_key.name == "gateway-key"
    edited = client.post("/connections/gateway/edit/", {**data, "timeout_seconds": "90"})
    assert edited.status_code == 302
    connection.refresh_from_db()
    assert connection.timeout_seconds == 90
    bad = client.post("/connections/new/", {**data, "slug": "x", "timeout_seconds": "0"})
    assert bad.status_code == 422 and "id_timeout_seconds_error" in page_text(bad)


def test_an_agent_may_only_use_a_connection_of_its_provider(cast: dict[str, Any]) -> None:
    connection_create(slug="claude", kind="anthropic")
    client = client_for(cast["designer"])
    response = client.post(
        "/agents/new/", form_data(provider="openai", model="gpt-4o-mini", connection="claude")
    )
    assert response.status_code == 422
    assert "for Anthropic models" in page_text(response)
    ok = client.post(
        "/agents/new/",
        form_data(provider="anthropic", model="claude-sonnet-4-5", connection="claude"),
    )
    assert ok.status_code == 302
    assert Agent.objects.get(slug="triage").connection.slug == "claude"  # type: ignore[union-attr]


# --- MCP servers ----------------------------------------------------------------------------------


def test_an_admin_registers_a_server_and_its_tools_are_listed_escaped(
    cast: dict[str, Any],
) -> None:
    admin = client_for(cast["admin"])
    data = {
        "slug": "orders",
        "name": "Orders",
        "transport": "stdio",
        "command": sys.executable,
        "args": f"{ROOT / 'tests' / 'support' / 'mcp_server.py'}\nstdio",
        "url": "",
        "category": "payment",
        "headers_secret": "",
        "enabled": "on",
    }
    assert admin.post("/mcp/new/", data).status_code == 302
    server = McpServer.objects.get(slug="orders")
    assert server.args[-1] == "stdio"

    designer = client_for(cast["designer"])
    refreshed = designer.post("/mcp/orders/refresh/", follow=True)
    text = page_text(refreshed)
    assert "Orders lists" in text, text[:2000]
    assert "mcp:orders/wire_money" in text
    assert "<script>alert('x')</script>" not in text
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in text
    assert "never change a tool&#x27;s permissions" in text or "never change a tool's" in text
    assert "&quot;amount&quot;" in text  # the input schema, pretty-printed and escaped
    # The server's description claims category=read; the admin's category stands.
    assert text.count("payment") >= 2
    assert "mcp:orders/lookup_order" in page_text(designer.get("/agents/new/"))


def test_a_failing_server_shows_why_its_tools_were_not_listed(cast: dict[str, Any]) -> None:
    McpServer.objects.create(
        slug="broken", name="Broken", transport="stdio", command="/nonexistent/mcp-server"
    )
    response = client_for(cast["designer"]).post("/mcp/broken/refresh/", follow=True)
    text = page_text(response)
    assert "Listing the tools of Broken failed" in text
    assert "Last listing:" in text


def test_a_viewer_cannot_refresh_or_edit_servers(cast: dict[str, Any]) -> None:
    McpServer.objects.create(slug="s", name="S", transport="stdio", command="true")
    viewer = client_for(cast["viewer"])
    assert viewer.post("/mcp/s/refresh/").status_code == 403
    assert viewer.get("/mcp/s/edit/").status_code == 403
    assert client_for(cast["designer"]).get("/mcp/s/edit/").status_code == 403


def test_server_registration_checks_the_transport(cast: dict[str, Any]) -> None:
    data = {"slug": "web", "name": "Web", "transport": "http", "url": "", "category": "read"}
    response = client_for(cast["admin"]).post("/mcp/new/", data)
    assert response.status_code == 422 and "id_url_error" in page_text(response)


# --- knowledge ------------------------------------------------------------------------------------


def upload(name: str, content: bytes) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type="text/plain")


def test_documents_are_uploaded_and_searched(cast: dict[str, Any]) -> None:
    client = client_for(cast["designer"])
    response = client.post("/knowledge/", {"slug": "support", "name": "Support"})
    assert response.status_code == 302
    files = [
        upload("refunds.md", b"# Refund policy\n\nRefunds are paid within 14 days."),
        upload("shipping.txt", "Parcels ship from Zürich every weekday.".encode()),
    ]
    response = client.post("/knowledge/support/upload/", {"documents": files}, follow=True)
    assert "Added 2 document(s)" in page_text(response)
    titles = set(KnowledgeDocument.objects.values_list("title", flat=True))
    assert titles == {"Refund policy", "shipping"}
    found = page_text(client.get("/knowledge/support/?q=refund"))
    assert "Refund policy" in found and "<mark>" in found and "&quot;count&quot;: 1" in found
    fragment = client.get("/knowledge/support/?q=parcels", headers={"HX-Request": "true"})
    assert fragment.status_code == 200
    assert page_text(fragment).lstrip().startswith('<div id="search-results"')
    assert "Zürich" in page_text(fragment)
    nothing = page_text(client.get("/knowledge/support/?q=unicorns"))
    assert "Nothing matches" in nothing


def test_uploads_that_are_not_utf8_text_are_refused_clearly(cast: dict[str, Any]) -> None:
    knowledge_base_ensure(slug="kb", name="KB")
    client = client_for(cast["designer"])
    cases = [
        (upload("latin1.txt", "caf\xe9".encode("latin-1")), "is not UTF-8 text"),
        (upload("slides.pdf", b"%PDF-1.4"), "only .md and .txt"),
        (upload("big.md", b"a" * 1_000_001), "over the 1,000,000-byte limit"),
        (upload("empty.md", b"   "), "is empty"),
    ]
    for file, message in cases:
        response = client.post("/knowledge/kb/upload/", {"documents": [file]})
        assert response.status_code == 422
        assert message in page_text(response), message
    assert not KnowledgeDocument.objects.exists()


def test_uploading_a_file_again_replaces_its_document(cast: dict[str, Any]) -> None:
    base = knowledge_base_ensure(slug="kb", name="KB")
    knowledge_document_add(base=base, title="Old", body="old text", source="upload:faq.md")
    client = client_for(cast["admin"])
    client.post("/knowledge/kb/upload/", {"documents": [upload("faq.md", b"# FAQ\nnew text")]})
    assert list(KnowledgeDocument.objects.values_list("title", flat=True)) == ["FAQ"]


# --- outbox ---------------------------------------------------------------------------------------


def outbox_message(number: int, status: str = "pending") -> OutboxMessage:
    def act(effect: Any) -> dict[str, Any]:
        message = OutboxMessage.objects.create(
            effect=effect,
            to=f"person{number}@example.com",
            subject=f"Hello {number}",
            body=f"<b>Body {number}</b>",
            status=status,
        )
        return {"message_id": message.id}

    result, _ = effect_once(
        key=f"run:{number}",
        tool="send_email",
        category="outbound_message",
        subject="",
        args={},
        act=act,
    )
    return OutboxMessage.objects.get(id=result["message_id"])


def test_the_outbox_lists_filters_and_pages_messages(cast: dict[str, Any]) -> None:
    for number in range(55):
        outbox_message(number, status="sent" if number % 5 == 0 else "pending")
    client = client_for(cast["viewer"])
    first = page_text(client.get("/outbox/"))
    assert first.count('<tr id="message-') == 50
    assert "&lt;b&gt;Body 54&lt;/b&gt;" in first and "<details" in first
    cursor = re.search(r'href="\?cursor=([^"]+)"', first)
    assert cursor
    second = page_text(client.get(f"/outbox/?cursor={cursor.group(1)}"))
    assert second.count('<tr id="message-') == 5
    sent = page_text(client.get("/outbox/?status=sent"))
    assert sent.count('<tr id="message-') == 11
    assert "status-sent" in sent and ">Sent<" in sent
    assert client.get("/outbox/?cursor=garbage").status_code == 400


def test_empty_pages_say_what_to_do_next(cast: dict[str, Any]) -> None:
    client = client_for(cast["designer"])
    assert "Create the first one" in page_text(client.get("/agents/"))
    assert "No messages yet" in page_text(client.get("/outbox/"))
    assert "No knowledge bases yet" in page_text(client.get("/knowledge/"))
    assert "No MCP servers yet" in page_text(client.get("/mcp/"))
    assert "No connections yet" in page_text(client.get("/connections/"))
