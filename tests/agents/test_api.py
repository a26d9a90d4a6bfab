"""The agents API: agents CRUD and archive, the tool registry, write-only secrets — role scopes,
the one error shape, and 4xx (never 500) for whatever a client sends."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from django.http import HttpResponse
from django.test import Client

from agents import secrets
from agents.connections import connection_create
from agents.models import Agent
from flows.versions import flow_save

pytestmark = pytest.mark.django_db

JSON = "application/json"
SECRET_VALUE = "sk-ant-api03-Qx7-never-in-a-response"


def error_of(response: HttpResponse, status: int, code: str | None = None) -> dict[str, Any]:
    """Assert ``response`` is an error in the API's one shape; return its ``error``."""
    assert response.status_code == status, response.content[:500]
    assert response["Content-Type"].startswith(JSON)
    body = response.json()
    assert set(body) == {"error"}
    error = body["error"]
    assert set(error) == {"code", "message", "details"}
    assert isinstance(error["message"], str) and error["message"]
    if code is not None:
        assert error["code"] == code, error
    return dict(error)


def post(client: Client, path: str, body: Any) -> HttpResponse:
    return client.post(path, json.dumps(body), content_type=JSON)


def patch(client: Client, path: str, body: Any) -> HttpResponse:
    return client.patch(path, json.dumps(body), content_type=JSON)


def put(client: Client, path: str, body: Any) -> HttpResponse:
    return client.put(path, json.dumps(body), content_type=JSON)


AGENT = {
    "slug": "qualifier",
    "name": "Qualifier",
    "role": "Scores leads",
    "instructions": "Score {{ input.company }} from 0 to 100.",
    "provider": "scripted",
    "model": "scripted-1",
    "output": "json",
    "output_schema": {"type": "object", "required": ["score"]},
    "tools": ["knowledge_search"],
    "price_in_per_1k": "0.0005",
    "price_out_per_1k": 0.0015,
    "memory_scope": "contact:{{ subject }}",
    "max_turns": 3,
    "script": {"responses": [{"score": 80}]},
}


# --- agents ---------------------------------------------------------------------------------------


def test_create_get_list_patch_archive(api: Callable[[str], Client]) -> None:
    designer = api("designer")
    created = post(designer, "/api/agents", AGENT)
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["slug"] == "qualifier" and body["output"] == "json"
    assert body["provider_label"] == "offline (scripted)"
    assert body["price_in_per_1k"] == "0.000500" and body["price_out_per_1k"] == "0.001500"
    assert body["archived"] is False and body["connection"] is None

    fetched = api("viewer").get("/api/agents/qualifier")
    assert fetched.status_code == 200 and fetched.json() == body

    listed = api("approver").get("/api/agents").json()
    assert set(listed) == {"items", "next_cursor"}
    assert [item["slug"] for item in listed["items"]] == ["qualifier"]

    changed = patch(
        designer, "/api/agents/qualifier", {"temperature": 0.7, "check": "output.score >= 0"}
    )
    assert changed.status_code == 200, changed.content
    assert changed.json()["temperature"] == 0.7 and changed.json()["check"] == "output.score >= 0"
    assert changed.json()["instructions"] == AGENT["instructions"]  # untouched

    archived = post(designer, "/api/agents/qualifier/archive", {})
    assert archived.status_code == 200 and archived.json()["archived"] is True
    assert api("viewer").get("/api/agents").json()["items"] == []
    assert len(api("viewer").get("/api/agents?status=archived").json()["items"]) == 1
    assert len(api("viewer").get("/api/agents?status=all").json()["items"]) == 1
    restored = post(designer, "/api/agents/qualifier/unarchive", {})
    assert restored.json()["archived"] is False


def test_defaults_fill_what_is_not_sent(api: Callable[[str], Client]) -> None:
    response = post(api("admin"), "/api/agents", {"slug": "minimal"})
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["name"] == "minimal" and body["provider"] == "scripted" and body["tools"] == []


def test_the_list_pages_with_a_cursor(api: Callable[[str], Client]) -> None:
    for number in range(5):
        assert post(api("designer"), "/api/agents", {"slug": f"a{number}"}).status_code == 201
    first = api("viewer").get("/api/agents?limit=2").json()
    assert len(first["items"]) == 2 and first["next_cursor"]
    seen = [item["slug"] for item in first["items"]]
    cursor = first["next_cursor"]
    while cursor:
        page = api("viewer").get(f"/api/agents?limit=2&cursor={cursor}").json()
        seen += [item["slug"] for item in page["items"]]
        cursor = page["next_cursor"]
    assert sorted(seen) == [f"a{number}" for number in range(5)]
    error_of(api("viewer").get("/api/agents?cursor=not-a-cursor"), 400, "invalid")
    error_of(api("viewer").get("/api/agents?status=deleted"), 400, "invalid")


@pytest.mark.parametrize(
    "body,pointer,fragment",
    [
        ({"provider": "gpt"}, "/provider", "unknown provider"),
        ({"instructions": "{{ input.x "}, "/instructions", "template syntax error"),
        (
            {"output": "json", "output_schema": {"type": "banana"}},
            "/output_schema",
            "not a valid JSON Schema",
        ),
        ({"output": "text", "output_schema": {"type": "object"}}, "/output_schema", "JSON output"),
        ({"tools": ["no_such_tool"]}, "/tools", "no tool"),
        ({"price_in_per_1k": "-1"}, "/price_in_per_1k", "zero or more"),
        ({"price_in_per_1k": "0.0000001"}, "/price_in_per_1k", "6 decimal places"),
        ({"max_turns": 500}, "/max_turns", "from 1 to 50"),
        ({"connection": "nowhere"}, "/connection", "no connection"),
        ({"check": "output.score >"}, "/check", "condition syntax error"),
        ({"script": {"rules": [{"when": "x"}]}}, "/script", "needs 'when' and 'response'"),
        ({"slug": "Not A Slug"}, "/slug", "lower-case"),
        ({"slug": "new"}, "/slug", "reserved"),
    ],
)
def test_bad_agents_are_422_with_a_pointer(
    api: Callable[[str], Client], body: dict[str, Any], pointer: str, fragment: str
) -> None:
    error = error_of(post(api("designer"), "/api/agents", {"slug": "bad", **body}), 422, "invalid")
    assert any(d["pointer"] == pointer and fragment in d["message"] for d in error["details"]), (
        error
    )
    assert not Agent.objects.exists()


@pytest.mark.parametrize(
    "raw",
    [
        "not json",
        "[1, 2]",
        '{"slug": "x", "temperature": "hot"}',
        '{"slug": "x", "surprise": true}',
        '{"slug": "x", "tools": "knowledge_search"}',
        '{"slug": "x", "price_in_per_1k": "NaN"}',
        '{"slug": "x", "output_schema": [1]}',
        '{"slug": "x", "script": {"responses": ["\\u0000"]}}',
        '{"slug": 12}',
        "{}",
    ],
)
def test_malformed_bodies_are_4xx_never_500(api: Callable[[str], Client], raw: str) -> None:
    response = api("designer").post("/api/agents", raw, content_type=JSON)
    assert 400 <= response.status_code < 500, response.content
    error_of(response, response.status_code)


def test_a_taken_slug_is_409(api: Callable[[str], Client]) -> None:
    assert post(api("designer"), "/api/agents", {"slug": "dup"}).status_code == 201
    post(api("designer"), "/api/agents/dup/archive", {})
    error_of(post(api("designer"), "/api/agents", {"slug": "dup"}), 409, "conflict")


def test_patch_cannot_rename_and_refuses_bad_values(api: Callable[[str], Client]) -> None:
    post(api("designer"), "/api/agents", AGENT)
    error_of(patch(api("designer"), "/api/agents/qualifier", {"slug": "other"}), 422)
    error = error_of(patch(api("designer"), "/api/agents/qualifier", {"output": "text"}), 422)
    assert error["details"][0]["pointer"] == "/output_schema"  # a schema needs JSON output
    assert Agent.objects.get(slug="qualifier").output_mode == "json"
    error_of(patch(api("designer"), "/api/agents/missing", {"name": "x"}), 404, "not_found")


def test_a_patch_does_not_change_a_saved_flow_version(api: Callable[[str], Client]) -> None:
    post(api("designer"), "/api/agents", AGENT)
    document = {
        "schema": "controlroom.flow/v1",
        "slug": "scoring",
        "name": "Scoring",
        "nodes": [
            {"id": "score", "type": "agent", "config": {"agent": "qualifier", "prompt": "go"}},
            {"id": "done", "type": "end"},
        ],
        "edges": [{"from": "score", "to": "done"}],
    }
    _, version = flow_save(document=document)
    patch(api("designer"), "/api/agents/qualifier", {"model": "scripted-2"})
    version.refresh_from_db()
    assert version.frozen_agents["qualifier"]["model"] == "scripted-1"


def test_connections_are_named_by_slug(api: Callable[[str], Client]) -> None:
    connection_create(slug="gateway", kind="openai", base_url="http://127.0.0.1:9/v1")
    body = {**AGENT, "provider": "openai", "model": "gpt-4o-mini", "connection": "gateway"}
    response = post(api("designer"), "/api/agents", body)
    assert response.status_code == 201, response.content
    assert response.json()["connection"] == "gateway"
    cleared = patch(api("designer"), "/api/agents/qualifier", {"connection": None})
    assert cleared.json()["connection"] is None


def test_roles_scope_the_agents_api(api: Callable[[str], Client]) -> None:
    post(api("admin"), "/api/agents", AGENT)
    for role in ("viewer", "approver"):
        assert api(role).get("/api/agents").status_code == 200
        assert api(role).get("/api/agents/qualifier").status_code == 200
        error_of(post(api(role), "/api/agents", {"slug": "nope"}), 403, "forbidden")
        error_of(patch(api(role), "/api/agents/qualifier", {"name": "x"}), 403, "forbidden")
        error_of(post(api(role), "/api/agents/qualifier/archive", {}), 403, "forbidden")
    for path in ("/api/agents", "/api/agents/qualifier", "/api/tools", "/api/secrets"):
        error_of(api("outsider").get(path), 403, "forbidden")
        error_of(Client().get(path), 401, "unauthenticated")
    assert not Agent.objects.get(slug="qualifier").archived


def test_the_tool_registry_is_listed(api: Callable[[str], Client]) -> None:
    body = api("viewer").get("/api/tools").json()
    names = {item["name"]: item for item in body["items"]}
    assert names["send_email"]["category"] == "outbound_message"
    assert names["knowledge_search"]["category"] == "read"


# --- secrets --------------------------------------------------------------------------------------


def test_secrets_are_write_only(api: Callable[[str], Client]) -> None:
    admin = api("admin")
    created = put(
        admin, "/api/secrets/anthropic-key", {"value": SECRET_VALUE, "description": "Claude"}
    )
    assert created.status_code == 201, created.content
    assert set(created.json()) == {
        "name", "description", "updated_at", "set", "allowed_hosts", "connections"
    }  # fmt: skip
    assert created.json()["set"] is True
    replaced = put(admin, "/api/secrets/anthropic-key", {"value": SECRET_VALUE + "2"})
    assert replaced.status_code == 200
    assert secrets.secret_reveal("anthropic-key") == SECRET_VALUE + "2"

    responses = [created, replaced]
    for role in ("admin", "designer", "viewer"):
        responses.append(api(role).get("/api/secrets"))
    responses.append(admin.get("/api/openapi.json"))
    responses.append(put(admin, "/api/secrets/bad name", {"value": SECRET_VALUE}))
    responses.append(put(admin, "/api/secrets/x", {"value": SECRET_VALUE, "extra": 1}))
    for response in responses:
        assert b"Qx7" not in response.content, response.content[:300]
    listed = api("viewer").get("/api/secrets").json()
    assert listed["items"][0]["name"] == "anthropic-key" and listed["items"][0]["set"] is True


def test_only_admins_change_secrets(api: Callable[[str], Client]) -> None:
    for role in ("designer", "approver", "viewer"):
        error_of(put(api(role), "/api/secrets/k", {"value": "value-1234"}), 403, "forbidden")
    secrets.secret_set(name="k", value="value-1234")
    error_of(api("designer").delete("/api/secrets/k"), 403, "forbidden")
    assert api("admin").delete("/api/secrets/k").status_code == 204
    error_of(api("admin").delete("/api/secrets/k"), 404, "not_found")


def test_bad_secrets_are_4xx(api: Callable[[str], Client]) -> None:
    admin = api("admin")
    error_of(put(admin, "/api/secrets/bad%20name", {"value": "v" * 8}), 422, "invalid")
    error_of(put(admin, "/api/secrets/k", {"value": ""}), 422, "invalid")
    error_of(put(admin, "/api/secrets/k", {"description": "no value"}), 422, "invalid")
    error_of(put(admin, "/api/secrets/k", {"value": "v", "description": "d" * 201}), 422)


def test_a_secret_in_use_is_409_on_delete(api: Callable[[str], Client]) -> None:
    secrets.secret_set(name="gw", value="value-1234")
    connection_create(slug="gateway", kind="openai", api_key="gw")
    error = error_of(api("admin").delete("/api/secrets/gw"), 409, "conflict")
    assert "gateway" in error["message"]
