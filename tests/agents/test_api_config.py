"""The configuration API (``agents/api_config.py``): provider connections, MCP servers and
knowledge bases over JSON, with the pages' roles, the domain's audit rows, the one error shape
with pointers, and secrets by name only. MCP refresh talks to the real test MCP server
(tests/support/mcp_server.py) over stdio."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from agents import secrets
from agents.agents import agent_create
from agents.forms.knowledge import MAX_UPLOAD_BYTES
from agents.models import (
    Agent,
    AuditEvent,
    KnowledgeBase,
    KnowledgeDocument,
    McpServer,
    McpTool,
    ProviderConnection,
    SecretBinding,
)

pytestmark = pytest.mark.django_db

JSON = "application/json"
SECRET_VALUE = "sk-live-Zq9-never-in-a-response"
SCRIPT = Path(__file__).resolve().parents[1] / "support" / "mcp_server.py"


def error_of(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.content[:500]
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code and body["error"]["message"]
    return dict(body["error"])


def pointers(error: dict[str, Any]) -> set[str]:
    return {detail["pointer"] for detail in error["details"]}


def send(client: Client, method: str, path: str, body: Any) -> Any:
    return client.generic(method, path, json.dumps(body), content_type=JSON)


def audited(action: str, subject: str) -> AuditEvent:
    return AuditEvent.objects.get(action=action, subject=subject)


# --- provider connections -------------------------------------------------------------------------

CONNECTION = {"slug": "gateway", "kind": "openai", "base_url": "https://llm.example.com/v1"}


def test_a_designer_creates_a_connection_and_it_is_audited(api: Callable[[str], Client]) -> None:
    secrets.secret_set(name="gw-key", value=SECRET_VALUE)
    response = send(
        api("designer"), "POST", "/api/connections", {**CONNECTION, "api_key": "gw-key"}
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["slug"] == "gateway" and body["api_key"] == "gw-key"
    assert body["timeout_seconds"] == 60.0 and body["agent_count"] == 0
    assert SECRET_VALUE not in response.content.decode()
    event = audited("connection.created", "gateway")
    assert event.actor == "designer" and event.data["api_key_secret"] == "gw-key"
    # A designer's save binds nothing; the list shows the connection by name.
    assert not SecretBinding.objects.exists()
    listed = api("viewer").get("/api/connections").json()["items"]
    assert [item["slug"] for item in listed] == ["gateway"]
    assert api("viewer").get("/api/connections/gateway").json()["api_key"] == "gw-key"


def test_an_admins_save_binds_the_key_to_the_connection(api: Callable[[str], Client]) -> None:
    secrets.secret_set(name="gw-key", value=SECRET_VALUE)
    send(api("admin"), "POST", "/api/connections", {**CONNECTION, "api_key": "gw-key"})
    binding = SecretBinding.objects.get()
    assert (binding.secret.name, binding.connection.slug) == ("gw-key", "gateway")


def test_a_connection_is_replaced_by_put_and_audited(api: Callable[[str], Client]) -> None:
    send(api("designer"), "POST", "/api/connections", CONNECTION)
    response = send(
        api("designer"),
        "PUT",
        "/api/connections/gateway",
        {"kind": "anthropic", "timeout_seconds": 5},
    )
    assert response.status_code == 200, response.content
    assert response.json()["kind"] == "anthropic" and response.json()["base_url"] == ""
    assert audited("connection.updated", "gateway").data["kind"] == "anthropic"


def test_bad_connections_are_422_with_pointers_and_a_taken_slug_409(
    api: Callable[[str], Client],
) -> None:
    bad = {**CONNECTION, "kind": "gemini", "timeout_seconds": 0, "api_key": "missing"}
    error = error_of(send(api("designer"), "POST", "/api/connections", bad), 422, "invalid")
    assert pointers(error) == {"/kind", "/timeout_seconds", "/api_key"}
    error = error_of(
        send(api("designer"), "POST", "/api/connections", {**CONNECTION, "slug": "a b"}),
        422,
        "invalid",
    )
    assert pointers(error) == {"/slug"}
    send(api("designer"), "POST", "/api/connections", CONNECTION)
    error = error_of(send(api("designer"), "POST", "/api/connections", CONNECTION), 409, "conflict")
    assert "exists already" in error["message"]
    error_of(
        send(api("designer"), "PUT", "/api/connections/nope", {"kind": "openai"}), 404, "not_found"
    )
    assert ProviderConnection.objects.count() == 1


def test_a_viewer_reads_connections_but_cannot_change_them(api: Callable[[str], Client]) -> None:
    error_of(send(api("viewer"), "POST", "/api/connections", CONNECTION), 403, "forbidden")
    assert api("viewer").get("/api/connections").status_code == 200
    error_of(api("outsider").get("/api/connections"), 403, "forbidden")
    assert not ProviderConnection.objects.exists()


def test_deleting_a_connection_is_audited_and_refused_while_agents_use_it(
    api: Callable[[str], Client],
) -> None:
    send(api("designer"), "POST", "/api/connections", CONNECTION)
    agent_create(
        values={
            "slug": "writer",
            "name": "Writer",
            "provider": "openai",
            "model": "gpt-4o-mini",
            "connection": "gateway",
        }
    )
    error = error_of(api("designer").delete("/api/connections/gateway"), 409, "conflict")
    assert "writer" in error["message"]
    Agent.objects.filter(slug="writer").update(connection=None)
    assert api("designer").delete("/api/connections/gateway").status_code == 204
    assert audited("connection.deleted", "gateway").actor == "designer"
    error_of(api("designer").delete("/api/connections/gateway"), 404, "not_found")


# --- MCP servers ----------------------------------------------------------------------------------


def stdio_server(slug: str = "orders") -> dict[str, Any]:
    return {
        "slug": slug,
        "name": "Orders",
        "transport": "stdio",
        "command": sys.executable,
        "args": [str(SCRIPT), "stdio"],
        "category": "write",
    }


def test_only_an_admin_registers_changes_and_deletes_an_mcp_server(
    api: Callable[[str], Client],
) -> None:
    error = error_of(
        send(api("designer"), "POST", "/api/mcp-servers", stdio_server()), 403, "forbidden"
    )
    assert "admin" in error["message"]
    response = send(api("admin"), "POST", "/api/mcp-servers", stdio_server())
    assert response.status_code == 201, response.content
    assert response.json()["category"] == "write" and response.json()["tool_count"] == 0
    assert audited("mcp_server.created", "orders").actor == "admin"
    changed = {**stdio_server(), "category": "read", "enabled": False}
    del changed["slug"]
    error_of(send(api("designer"), "PUT", "/api/mcp-servers/orders", changed), 403, "forbidden")
    response = send(api("admin"), "PUT", "/api/mcp-servers/orders", changed)
    assert response.status_code == 200 and response.json()["enabled"] is False
    assert audited("mcp_server.updated", "orders").data["category"] == "read"
    error_of(api("designer").delete("/api/mcp-servers/orders"), 403, "forbidden")
    assert api("admin").delete("/api/mcp-servers/orders").status_code == 204
    assert audited("mcp_server.deleted", "orders").actor == "admin"
    assert not McpServer.objects.exists()


def test_bad_mcp_servers_are_422_with_pointers(api: Callable[[str], Client]) -> None:
    bad = {"slug": "x", "name": " ", "transport": "http", "url": "ftp://x", "category": "magic"}
    error = error_of(send(api("admin"), "POST", "/api/mcp-servers", bad), 422, "invalid")
    assert pointers(error) == {"/name", "/url", "/category"}
    reserved = {**stdio_server(), "slug": "new"}
    error = error_of(send(api("admin"), "POST", "/api/mcp-servers", reserved), 422, "invalid")
    assert pointers(error) == {"/slug"}
    error = error_of(send(api("admin"), "POST", "/api/mcp-servers", {"slug": "x"}), 422, "invalid")
    assert {"/name", "/transport"} <= pointers(error)
    send(api("admin"), "POST", "/api/mcp-servers", stdio_server())
    error_of(send(api("admin"), "POST", "/api/mcp-servers", stdio_server()), 409, "conflict")


def test_a_designer_refreshes_a_servers_tools_from_the_real_server(
    api: Callable[[str], Client],
) -> None:
    send(api("admin"), "POST", "/api/mcp-servers", stdio_server())
    assert api("viewer").get("/api/mcp-servers/orders/tools").json()["items"] == []
    error_of(api("viewer").post("/api/mcp-servers/orders/refresh"), 403, "forbidden")
    response = api("designer").post("/api/mcp-servers/orders/refresh")
    assert response.status_code == 200, response.content
    names = {item["name"] for item in response.json()["items"]}
    assert {"mcp:orders/add", "mcp:orders/lookup_order"} <= names
    add = next(i for i in response.json()["items"] if i["tool"] == "add")
    assert add["category"] == "write" and set(add["input_schema"]["properties"]) == {"a", "b"}
    listed = api("viewer").get("/api/mcp-servers/orders/tools").json()["items"]
    assert {item["name"] for item in listed} == names
    server = api("viewer").get("/api/mcp-servers/orders").json()
    assert server["tool_count"] == len(names) and server["last_listed_at"]


def test_a_refresh_that_fails_is_a_502_and_keeps_the_old_tools(
    api: Callable[[str], Client],
) -> None:
    broken = {**stdio_server("broken"), "args": [str(SCRIPT), "no-such-mode"]}
    send(api("admin"), "POST", "/api/mcp-servers", broken)
    McpTool.objects.create(server=McpServer.objects.get(slug="broken"), name="old")
    error = error_of(api("designer").post("/api/mcp-servers/broken/refresh"), 502, "mcp_failed")
    assert "Orders" in error["message"]
    assert list(McpTool.objects.values_list("name", flat=True)) == ["old"]
    assert api("viewer").get("/api/mcp-servers/broken").json()["last_error"]
    error_of(api("designer").post("/api/mcp-servers/nope/refresh"), 404, "not_found")


def test_a_servers_credential_is_named_never_shown(api: Callable[[str], Client]) -> None:
    secrets.secret_set(name="mcp-token", value=SECRET_VALUE)
    server = {
        "slug": "remote",
        "name": "Remote",
        "transport": "http",
        "url": "https://mcp.example.com/mcp",
        "headers_secret": "mcp-token",
    }
    response = send(api("admin"), "POST", "/api/mcp-servers", server)
    assert response.status_code == 201 and response.json()["headers_secret"] == "mcp-token"
    for path in ("/api/mcp-servers", "/api/mcp-servers/remote"):
        assert SECRET_VALUE not in api("viewer").get(path).content.decode()


# --- knowledge bases ------------------------------------------------------------------------------


def upload(client: Client, slug: str, *files: tuple[str, bytes]) -> Any:
    documents = [SimpleUploadedFile(name, content) for name, content in files]
    return client.post(f"/api/knowledge/{slug}/documents", {"documents": documents})


def test_a_designer_creates_uploads_to_lists_and_deletes_a_knowledge_base(
    api: Callable[[str], Client],
) -> None:
    response = send(api("designer"), "POST", "/api/knowledge", {"slug": "help", "name": "Help"})
    assert response.status_code == 201, response.content
    assert response.json()["document_count"] == 0
    assert audited("knowledge_base.created", "help").actor == "designer"
    response = upload(
        api("designer"),
        "help",
        ("refunds.md", b"# Refund policy\nRefunds within 30 days."),
        ("shipping.txt", b"We ship worldwide."),
    )
    assert response.status_code == 200, response.content
    titles = [item["title"] for item in response.json()["items"]]
    assert titles == ["Refund policy", "shipping"]
    # Uploading the same file again replaces its document.
    upload(api("designer"), "help", ("refunds.md", b"# Refund policy\nRefunds within 60 days."))
    assert KnowledgeDocument.objects.count() == 2
    assert "60 days" in KnowledgeDocument.objects.get(source="upload:refunds.md").body
    listed = api("viewer").get("/api/knowledge/help/documents").json()["items"]
    assert [item["source"] for item in listed] == ["upload:refunds.md", "upload:shipping.txt"]
    assert api("viewer").get("/api/knowledge").json()["items"][0]["document_count"] == 2
    error_of(api("viewer").delete("/api/knowledge/help"), 403, "forbidden")
    assert api("designer").delete("/api/knowledge/help").status_code == 204
    assert audited("knowledge_base.deleted", "help").data["documents"] == 2
    assert not KnowledgeDocument.objects.exists()
    error_of(api("viewer").get("/api/knowledge/help"), 404, "not_found")


def test_uploads_keep_the_upload_pages_limits(api: Callable[[str], Client]) -> None:
    send(api("designer"), "POST", "/api/knowledge", {"slug": "help", "name": "Help"})
    error_of(upload(api("viewer"), "help", ("a.md", b"# A\nbody")), 403, "forbidden")
    error = error_of(
        upload(
            api("designer"),
            "help",
            ("ok.md", b"# fine\nbody"),
            ("report.pdf", b"%PDF-1.4"),
            ("latin.txt", b"caf\xe9"),
            ("big.md", b"x" * (MAX_UPLOAD_BYTES + 1)),
        ),
        422,
        "invalid",
    )
    assert pointers(error) == {"/documents"}
    messages = " ".join(detail["message"] for detail in error["details"])
    assert "report.pdf" in messages and "latin.txt" in messages and "big.md" in messages
    assert not KnowledgeDocument.objects.exists()  # nothing added when a file is refused
    error = error_of(api("designer").post("/api/knowledge/help/documents", {}), 422, "invalid")
    assert pointers(error) == {"/documents"}
    error_of(upload(api("designer"), "nope", ("a.md", b"# A\nbody")), 404, "not_found")


def test_bad_knowledge_bases_are_422_and_a_taken_slug_409(api: Callable[[str], Client]) -> None:
    error = error_of(
        send(api("designer"), "POST", "/api/knowledge", {"slug": "Not A Slug", "name": ""}),
        422,
        "invalid",
    )
    assert pointers(error) == {"/slug", "/name"}
    send(api("designer"), "POST", "/api/knowledge", {"slug": "help", "name": "Help"})
    error_of(
        send(api("designer"), "POST", "/api/knowledge", {"slug": "help", "name": "Again"}),
        409,
        "conflict",
    )
    assert KnowledgeBase.objects.get().name == "Help"
    error_of(
        send(api("viewer"), "POST", "/api/knowledge", {"slug": "x", "name": "X"}), 403, "forbidden"
    )


def test_a_browser_session_uploads_with_its_csrf_token_only(cast: dict[str, Any]) -> None:
    KnowledgeBase.objects.create(slug="help", name="Help")
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(cast["designer"])
    refused = upload(browser, "help", ("a.md", b"# A\nbody"))
    assert refused.status_code == 403 and not KnowledgeDocument.objects.exists()
    browser.get("/knowledge/help/")  # any page sets the CSRF cookie
    token = browser.cookies["csrftoken"].value
    documents = [SimpleUploadedFile("a.md", b"# A\nbody")]
    response = browser.post(
        "/api/knowledge/help/documents", {"documents": documents}, HTTP_X_CSRFTOKEN=token
    )
    assert response.status_code == 200, response.content
    assert KnowledgeDocument.objects.get().title == "A"
