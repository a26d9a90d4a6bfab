"""``/api/policies``: CRUD with per-kind validation (JSON pointers), filters and cursor
pagination, enable/disable, roles, and an audit row for every change."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.http import HttpResponse
from django.test import Client

from agents.models import AuditEvent, Policy
from controlroom.accounts import token_issue, user_ensure
from controlroom.roles import Role

pytestmark = pytest.mark.django_db
JSON = "application/json"


@pytest.fixture
def api() -> Callable[[str], Client]:
    users = {role.value: user_ensure(username=role.value, role=role) for role in Role}
    users["outsider"] = get_user_model().objects.create_user(username="outsider")

    def client_for(name: str) -> Client:
        return Client(HTTP_AUTHORIZATION=f"Bearer {token_issue(user=users[name])}")

    return client_for


def post(client: Client, path: str, body: Any) -> HttpResponse:
    return client.post(path, json.dumps(body), content_type=JSON)


def error(response: HttpResponse, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.content[:500]
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}
    return body["error"]


LIMIT: dict[str, Any] = {
    "slug": "one-email-a-day",
    "name": "One e-mail a day",
    "kind": "rate_limit",
    "verdict": "block",
    "reason": "do not spam contacts",
    "config": {"categories": ["outbound_message"], "max": 1, "window": "24h"},
}


def test_a_designer_creates_reads_changes_and_deletes_a_policy(api: Any) -> None:
    designer = api("designer")
    created = post(designer, "/api/policies", {**LIMIT, "scope": "flow", "target": "sales"})
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["scope"] == "flow" and body["target"] == "sales" and body["enabled"] is True
    assert body["created_by"] == "designer"
    assert api("viewer").get("/api/policies/one-email-a-day").json()["config"] == LIMIT["config"]

    changed = designer.patch(
        "/api/policies/one-email-a-day",
        json.dumps({"config": {**LIMIT["config"], "max": 2}, "scope": "agent", "target": "leads"}),
        content_type=JSON,
    )
    assert changed.status_code == 200, changed.content
    assert changed.json()["config"]["max"] == 2 and changed.json()["target"] == "leads"

    assert post(designer, "/api/policies/one-email-a-day/disable", {}).json()["enabled"] is False
    assert post(designer, "/api/policies/one-email-a-day/enable", {}).json()["enabled"] is True
    assert designer.delete("/api/policies/one-email-a-day").status_code == 204
    assert not Policy.objects.exists()

    actions = list(
        AuditEvent.objects.filter(kind="config", subject="one-email-a-day")
        .order_by("id")
        .values_list("action", "actor")
    )
    assert actions == [
        ("policy.created", "designer"),
        ("policy.updated", "designer"),
        ("policy.disabled", "designer"),
        ("policy.enabled", "designer"),
        ("policy.deleted", "designer"),
    ]
    update = AuditEvent.objects.get(action="policy.updated")
    assert update.data["changed"] == ["config", "scope", "target"]
    assert (
        update.data["before"]["config"]["max"] == 1 and update.data["after"]["config"]["max"] == 2
    )


@pytest.mark.parametrize(
    ("change", "pointer"),
    [
        ({"config": {"max": 1}}, "/config"),  # the window is required
        ({"config": {"max": 1, "window": "daily"}}, "/config/window"),
        ({"config": {"max": -1, "window": "1d"}}, "/config/max"),
        ({"config": {"max": 1, "window": "1d", "colour": "red"}}, "/config"),
        ({"verdict": "redact"}, "/verdict"),
        ({"kind": "teleport"}, "/kind"),
        ({"scope": "agent"}, "/target"),
        ({"scope": "global", "target": "leads"}, "/target"),
        ({"slug": "Not A Slug"}, "/slug"),
        ({"slug": "new"}, "/slug"),
        ({"name": " "}, "/name"),
    ],
)
def test_invalid_policies_are_refused_with_a_pointer(
    api: Any, change: dict[str, Any], pointer: str
) -> None:
    refused = error(post(api("admin"), "/api/policies", {**LIMIT, **change}), 422)
    assert pointer in [detail["pointer"] for detail in refused["details"]], refused
    assert not Policy.objects.exists()


def test_config_errors_of_each_kind_point_inside_the_config(api: Any) -> None:
    bad = {
        "approval": ({"when": "args.amount >"}, "/config/when"),
        "quiet_hours": (
            {"time_zone": "Mars/Olympus", "start": "20:00", "end": "08:00"},
            "/config/time_zone",
        ),
        "budget": ({"per": "run", "max_cost": "lots"}, "/config/max_cost"),
        "pii": ({"patterns": [{"regex": "("}]}, "/config/patterns/0/regex"),
    }
    for kind, (config, pointer) in bad.items():
        body = {
            "slug": f"bad-{kind.replace('_', '-')}",
            "name": kind,
            "kind": kind,
            "config": config,
        }
        refused = error(post(api("admin"), "/api/policies", body), 422)
        assert refused["details"][0]["pointer"] == pointer, (kind, refused)


def test_a_duplicate_slug_is_a_conflict(api: Any) -> None:
    assert post(api("admin"), "/api/policies", LIMIT).status_code == 201
    assert error(post(api("admin"), "/api/policies", LIMIT), 409)["code"] == "conflict"


def test_only_admins_and_designers_write(api: Any) -> None:
    assert post(api("admin"), "/api/policies", LIMIT).status_code == 201
    for name in ("approver", "viewer"):
        assert api(name).get("/api/policies").status_code == 200
        assert error(post(api(name), "/api/policies", {**LIMIT, "slug": "x"}), 403)
        assert error(post(api(name), "/api/policies/one-email-a-day/disable", {}), 403)
        assert error(api(name).delete("/api/policies/one-email-a-day"), 403)
        patch = api(name).patch(
            "/api/policies/one-email-a-day", json.dumps({"name": "n"}), content_type=JSON
        )
        assert error(patch, 403)
    assert error(api("outsider").get("/api/policies"), 403)
    assert error(Client().get("/api/policies"), 401)
    assert Policy.objects.get().enabled and Policy.objects.get().name == LIMIT["name"]


def test_the_list_filters_and_pages(api: Any) -> None:
    designer = api("designer")
    for index in range(5):
        body = {
            "slug": f"scope-{index}",
            "name": f"Scope {index}",
            "kind": "tool_scope",
            "scope": "agent",
            "target": "writer" if index % 2 else "closer",
            "config": {"deny": ["send_email"]},
            "enabled": index != 4,
        }
        assert post(designer, "/api/policies", body).status_code == 201
    assert post(api("admin"), "/api/policies", LIMIT).status_code == 201  # global: an admin's

    def slugs(query: str) -> list[str]:
        answer = designer.get(f"/api/policies?{query}")
        assert answer.status_code == 200, answer.content
        return [item["slug"] for item in answer.json()["items"]]

    assert slugs("kind=rate_limit") == ["one-email-a-day"]
    assert slugs("scope=agent&target=writer") == ["scope-3", "scope-1"]
    assert slugs("enabled=false") == ["scope-4"]
    assert slugs("q=email") == ["one-email-a-day"]
    first = designer.get("/api/policies?limit=4").json()
    second = designer.get(f"/api/policies?limit=4&cursor={first['next_cursor']}").json()
    assert len(first["items"]) == 4 and len(second["items"]) == 2
    assert second["next_cursor"] is None
    everything = {i["slug"] for i in first["items"]} | {i["slug"] for i in second["items"]}
    assert len(everything) == 6
    assert error(designer.get("/api/policies?kind=teleport"), 400)
    assert error(designer.get("/api/policies?enabled=maybe"), 400)
    assert error(designer.get("/api/policies?cursor=garbage"), 400)
    assert error(designer.get("/api/policies/nothing-here"), 404)


def test_the_policy_kinds_give_each_config_schema_and_verdicts(api: Any) -> None:
    response = api("viewer").get("/api/policy-kinds")
    assert response.status_code == 200, response.content
    kinds = {k["kind"]: k for k in response.json()}
    assert list(kinds) == [
        "approval", "rate_limit", "quiet_hours", "budget", "limits", "tool_scope", "pii",
        "content",
    ]  # fmt: skip
    rate = kinds["rate_limit"]
    assert rate["config_schema"]["required"] == ["max", "window"]
    assert "window" in rate["config_schema"]["properties"]
    assert rate["verdicts"][0] == "block" and "redact" not in rate["verdicts"]
    assert "redact" in kinds["pii"]["verdicts"] and kinds["pii"]["explanation"]
    assert error(api("outsider").get("/api/policy-kinds"), 403)["message"]
