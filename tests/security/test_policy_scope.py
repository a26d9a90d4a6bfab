"""Issue 14, finding 13: a designer could disable a global policy an admin made. Designers
create, change, enable, disable and delete policies scoped to a flow, an agent or a tool; a
global policy (and moving a policy into or out of global scope) is an admin's, through the API,
the policy pages and flow documents alike. Refusals are 403 with a message saying why."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from agents.models import Policy
from controlroom.accounts import token_issue, user_ensure
from controlroom.roles import Role
from flows.guardrails.sources import policies_for
from flows.models import Flow
from tests.support.flows import document, node

pytestmark = pytest.mark.django_db
JSON = "application/json"

GLOBAL: dict[str, Any] = {
    "slug": "one-email-a-day",
    "name": "One e-mail a day",
    "kind": "rate_limit",
    "verdict": "block",
    "reason": "do not spam contacts",
    "config": {"categories": ["outbound_message"], "max": 1, "window": "24h"},
}


def api(role: Role) -> Client:
    user = user_ensure(username=role.value, role=role)
    return Client(HTTP_AUTHORIZATION=f"Bearer {token_issue(user=user)}")


def page(role: Role) -> Client:
    client = Client()
    client.force_login(user_ensure(username=role.value, role=role))
    return client


def send(client: Client, method: str, path: str, body: Any = None) -> Any:
    data = json.dumps(body) if body is not None else ""
    return client.generic(method, path, data, content_type=JSON)


def forbidden(response: Any, *words: str) -> str:
    assert response.status_code == 403, response.content[:500]
    message: str = response.json()["error"]["message"]
    assert response.json()["error"]["code"] == "forbidden"
    for word in words:
        assert word in message, message
    return message


@pytest.fixture
def global_policy() -> Policy:
    created = send(api(Role.ADMIN), "POST", "/api/policies", GLOBAL)
    assert created.status_code == 201, created.content
    return Policy.objects.get(slug=GLOBAL["slug"])


def unchanged(policy: Policy) -> None:
    fresh = Policy.objects.get(id=policy.id)
    assert (fresh.enabled, fresh.scope, fresh.target, fresh.config, fresh.name) == (
        policy.enabled,
        policy.scope,
        policy.target,
        policy.config,
        policy.name,
    )


# --- API ---------------------------------------------------------------------------------------


def test_a_designer_cannot_disable_change_or_delete_a_global_policy(global_policy: Policy) -> None:
    designer = api(Role.DESIGNER)
    path = "/api/policies/one-email-a-day"
    forbidden(send(designer, "POST", f"{path}/disable", {}), "global", "admin")
    forbidden(send(designer, "PATCH", path, {"config": {**GLOBAL["config"], "max": 1000}}))
    forbidden(send(designer, "PATCH", path, {"enabled": False}), "global")
    forbidden(send(designer, "PATCH", path, {"scope": "flow", "target": "leads"}), "global")
    forbidden(send(designer, "DELETE", path), "global")
    unchanged(global_policy)


def test_a_designer_cannot_enable_a_global_policy_an_admin_turned_off(
    global_policy: Policy,
) -> None:
    disabled = send(api(Role.ADMIN), "POST", "/api/policies/one-email-a-day/disable", {})
    assert disabled.status_code == 200
    forbidden(send(api(Role.DESIGNER), "POST", "/api/policies/one-email-a-day/enable", {}))
    assert Policy.objects.get(id=global_policy.id).enabled is False


def test_a_designer_cannot_create_a_global_policy_or_make_one_global() -> None:
    designer = api(Role.DESIGNER)
    forbidden(send(designer, "POST", "/api/policies", GLOBAL), "global")
    forbidden(send(designer, "POST", "/api/policies", {**GLOBAL, "scope": "global"}), "global")
    assert not Policy.objects.exists()
    scoped = {**GLOBAL, "scope": "flow", "target": "leads"}
    assert send(designer, "POST", "/api/policies", scoped).status_code == 201
    forbidden(
        send(designer, "PATCH", "/api/policies/one-email-a-day", {"scope": "global", "target": ""}),
        "global",
    )
    assert Policy.objects.get().scope == "flow"


def test_a_designer_manages_the_policies_of_flows_agents_and_tools() -> None:
    designer = api(Role.DESIGNER)
    for scope in ("flow", "agent", "tool"):
        slug = f"limit-{scope}"
        body = {**GLOBAL, "slug": slug, "scope": scope, "target": "t"}
        assert send(designer, "POST", "/api/policies", body).status_code == 201
        changed = send(designer, "PATCH", f"/api/policies/{slug}", {"target": "other"})
        assert changed.status_code == 200 and changed.json()["target"] == "other"
        assert (
            send(designer, "POST", f"/api/policies/{slug}/disable", {}).json()["enabled"] is False
        )
        assert send(designer, "POST", f"/api/policies/{slug}/enable", {}).json()["enabled"] is True
        assert send(designer, "DELETE", f"/api/policies/{slug}").status_code == 204


def test_an_admin_governs_global_policies(global_policy: Policy) -> None:
    admin = api(Role.ADMIN)
    path = "/api/policies/one-email-a-day"
    assert send(admin, "POST", f"{path}/disable", {}).json()["enabled"] is False
    assert (
        send(admin, "PATCH", path, {"scope": "flow", "target": "leads"}).json()["scope"] == "flow"
    )
    assert send(admin, "PATCH", path, {"scope": "global", "target": ""}).json()["scope"] == "global"
    assert send(admin, "DELETE", path).status_code == 204


# --- the policy pages ---------------------------------------------------------------------------


def form(**fields: Any) -> dict[str, Any]:
    return {
        "slug": GLOBAL["slug"],
        "name": GLOBAL["name"],
        "kind": GLOBAL["kind"],
        "scope": "global",
        "target": "",
        "verdict": "block",
        "reason": "",
        "config": json.dumps(GLOBAL["config"]),
        "action": "save",
        **fields,
    }


def test_the_pages_refuse_a_designer_the_same_changes(global_policy: Policy) -> None:
    designer = page(Role.DESIGNER)
    base = "/policies/one-email-a-day"
    assert designer.post(f"{base}/toggle/", {"enabled": "0"}).status_code == 403
    edited = designer.post(f"{base}/edit/", form(enabled="", name="Renamed"))
    assert edited.status_code == 403 and b"admin" in edited.content
    moved = designer.post(f"{base}/edit/", form(scope="flow", target="leads", enabled="on"))
    assert moved.status_code == 403
    assert designer.post(f"{base}/delete/").status_code == 403
    unchanged(global_policy)
    created = designer.post("/policies/new/", form(slug="another", enabled="on"))
    assert created.status_code == 403 and b"admin" in created.content
    assert not Policy.objects.filter(slug="another").exists()


def test_the_pages_let_an_admin_disable_a_global_policy(global_policy: Policy) -> None:
    toggled = page(Role.ADMIN).post("/policies/one-email-a-day/toggle/", {"enabled": "0"})
    assert toggled.status_code == 302
    assert Policy.objects.get(id=global_policy.id).enabled is False


# --- flow documents ------------------------------------------------------------------------------


def flow_with(policies: list[dict[str, Any]]) -> dict[str, Any]:
    return document(
        "leads",
        [node("book", "tool", tool="upsert_record", args={"kind": "lead", "key": "k"})],
        [],
        policies=policies,
    )


def test_a_flow_document_cannot_shadow_a_stored_policy(global_policy: Policy) -> None:
    # Rate limits count per policy slug: a document policy named like the global one would
    # replace the global one's count with its own (a limit on a tool nobody calls).
    shadow = {
        "slug": "one-email-a-day",
        "kind": "rate_limit",
        "verdict": "block",
        "config": {"tools": ["nothing-calls-this"], "max": 1000, "window": "1m"},
    }
    saved = send(api(Role.DESIGNER), "POST", "/api/flows", flow_with([shadow]))
    assert saved.status_code == 400, saved.content
    details = saved.json()["error"]["details"]
    assert (
        details[0]["pointer"] == "/policies/0/slug" and "one-email-a-day" in details[0]["message"]
    )
    assert not Flow.objects.filter(slug="leads").exists()


def test_a_flow_document_cannot_carry_a_global_or_disabling_policy() -> None:
    entry = {"kind": "rate_limit", "verdict": "block", "config": GLOBAL["config"]}
    for extra in ({"scope": "global"}, {"enabled": False}, {"target": "other-flow"}):
        saved = send(api(Role.DESIGNER), "POST", "/api/flows", flow_with([{**entry, **extra}]))
        assert saved.status_code == 400, saved.content
        assert saved.json()["error"]["details"][0]["pointer"].startswith("/policies/0/")
    assert send(api(Role.DESIGNER), "POST", "/api/flows", flow_with([entry])).status_code == 201


def test_a_stored_policy_made_later_is_not_shadowed_at_run_time(global_policy: Policy) -> None:
    # Saved before an admin took the slug: at run time the document's policy is named after
    # its place, so the stored one keeps its own rate-limit count and verdict name.
    doc = flow_with([{"slug": "one-email-a-day", "kind": "content", "verdict": "block"}])
    applying = policies_for(flow_slug="leads", document=doc)
    assert [(p.slug, p.scope) for p in applying] == [
        ("one-email-a-day", "global"),
        ("leads#1", "flow"),
    ]
