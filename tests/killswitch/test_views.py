"""The kill switch's buttons and API: who may throw which switch, what every page shows while
everything is paused, and that each throw is audited."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from agents.models import AuditEvent
from controlroom.accounts import user_ensure
from controlroom.roles import Role
from flows.killswitch.pause import flow_pause
from flows.killswitch.selectors import state
from flows.models import Flow
from tests.support.flows import document, node, save

pytestmark = pytest.mark.django_db


@pytest.fixture
def cast() -> dict[str, Any]:
    """One user per role, plus an outsider with no role."""
    users = {role.value: user_ensure(username=role.value, role=role) for role in Role}
    users["outsider"] = get_user_model().objects.create_user(username="outsider")
    return users


@pytest.fixture
def flow() -> Flow:
    return save(document("switchable", [node("done", "end")], []))


def _client(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_flow_page_pauses_and_resumes_the_flow(cast: dict[str, Any], flow: Flow) -> None:
    client = _client(cast["designer"])
    page = client.get(f"/flows/{flow.slug}/").content.decode()
    assert "Pause flow" in page and "Resume flow" not in page
    response = client.post(f"/flows/{flow.slug}/switch/", {"action": "pause", "reason": "odd"})
    assert response.status_code == 302
    assert state(flow=flow).active
    page = client.get(f"/flows/{flow.slug}/").content.decode()
    assert "Resume flow" in page and 'id="flow-paused-tag"' in page
    client.post(f"/flows/{flow.slug}/switch/", {"action": "resume"})
    assert not state(flow=flow).active
    assert list(
        AuditEvent.objects.filter(action__startswith="flow.p")
        .order_by("id")
        .values_list("action", "actor")
    ) == [("flow.paused", "designer")]
    assert AuditEvent.objects.get(action="flow.resumed").actor == "designer"


def test_read_only_roles_see_no_flow_switch_and_cannot_post_it(
    cast: dict[str, Any], flow: Flow
) -> None:
    for name in ("viewer", "approver"):
        client = _client(cast[name])
        assert "Pause flow" not in client.get(f"/flows/{flow.slug}/").content.decode()
        assert client.post(f"/flows/{flow.slug}/switch/", {"action": "pause"}).status_code == 403
    designer = _client(cast["designer"])
    assert designer.post(f"/flows/{flow.slug}/switch/", {"action": "stop"}).status_code == 400
    assert designer.post("/flows/nope/switch/", {"action": "pause"}).status_code == 404
    assert not state(flow=flow).active


def test_only_admins_get_the_global_switch_and_everyone_sees_the_banner(
    cast: dict[str, Any],
) -> None:
    admin = _client(cast["admin"])
    assert "Pause everything" in admin.get("/flows/").content.decode()
    assert "Pause everything" not in _client(cast["designer"]).get("/flows/").content.decode()
    assert _client(cast["designer"]).post("/kill-switch/", {"action": "pause"}).status_code == 403
    response = admin.post(
        "/kill-switch/", {"action": "pause", "reason": "incident 42", "next": "/runs/"}
    )
    assert response.status_code == 302 and response["Location"] == "/runs/"
    viewer_page = _client(cast["viewer"]).get("/flows/").content.decode()
    assert 'id="kill-switch-banner"' in viewer_page and "incident 42" in viewer_page
    assert "Resume everything" not in viewer_page
    assert "Resume everything" in admin.get("/runs/").content.decode()
    response = admin.post("/kill-switch/", {"action": "resume", "next": "https://evil.example/"})
    assert response["Location"] == "/"
    assert 'id="kill-switch-banner"' not in admin.get("/flows/").content.decode()


def test_api_pauses_and_resumes_a_flow(cast: dict[str, Any], flow: Flow) -> None:
    client = _client(cast["designer"])
    response = client.post(
        f"/api/flows/{flow.slug}/pause", {"reason": "check"}, content_type="application/json"
    )
    assert response.status_code == 200, response.content
    assert response.json() == {
        "slug": "switchable",
        "paused": True,
        "globally_paused": False,
        "runs": 0,
        "reason": "check",
    }
    assert client.post(f"/api/flows/{flow.slug}/resume").json()["paused"] is False
    viewer = _client(cast["viewer"])
    refused = viewer.post(f"/api/flows/{flow.slug}/pause")
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"
    assert client.post("/api/flows/nope/pause").status_code == 404
    too_long = client.post(
        f"/api/flows/{flow.slug}/pause", {"reason": "x" * 600}, content_type="application/json"
    )
    assert too_long.status_code == 422


def test_api_global_switch_is_admin_only_and_audited(cast: dict[str, Any], flow: Flow) -> None:
    flow_pause(flow=flow)
    viewer = _client(cast["viewer"])
    assert viewer.get("/api/kill-switch").json()["paused_flows"] == ["switchable"]
    refused = _client(cast["designer"]).post(
        "/api/kill-switch", {"active": True}, content_type="application/json"
    )
    assert refused.status_code == 403
    admin = _client(cast["admin"])
    body = admin.post(
        "/api/kill-switch", {"active": True, "reason": "drill"}, content_type="application/json"
    ).json()
    assert (body["active"], body["reason"], body["changed_by"]) == (True, "drill", "admin")
    assert viewer.get("/api/kill-switch").json()["active"] is True
    body = admin.post("/api/kill-switch", {"active": False}, content_type="application/json").json()
    assert body["active"] is False
    assert list(
        AuditEvent.objects.filter(action__startswith="global.")
        .order_by("id")
        .values_list("action", "actor")
    ) == [("global.paused", "admin"), ("global.resumed", "admin")]
    assert _client(cast["outsider"]).get("/api/kill-switch").status_code == 403
