"""The launch checklist on the flow page: the latest version's four items, each done or
missing with the checklist's message, and a link into the editor where to fill it in."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from django.test import Client

from controlroom.accounts import user_ensure
from controlroom.roles import Role
from flows.models import Flow
from flows.versions import flow_save

pytestmark = pytest.mark.django_db

DRAFT: dict[str, Any] = {
    "schema": "controlroom.flow/v1",
    "slug": "half-done",
    "name": "Half done",
    "trigger": {"type": "webhook"},
    "nodes": [{"id": "done", "type": "end", "position": {"x": 0, "y": 0}}],
    "edges": [],
}
AGENT = {"slug": "writer", "role": "Write", "provider": "scripted", "script": {"responses": ["ok"]}}
COMPLETE: dict[str, Any] = {
    **DRAFT,
    "agents": [AGENT],
    "nodes": [
        {"id": "write", "type": "agent", "config": {"agent": "writer", "prompt": "hi"}},
        {"id": "done", "type": "end"},
    ],
    "edges": [{"from": "write", "to": "done"}],
    # Outcomes attach to the run of their subject: a flow measured by one needs a subject.
    "subject": "{{ input.note_id }}",
    "feedback": {"outcome": "note_published"},
    "roi": {"baseline_minutes": 15, "hourly_cost": 40, "success_outcome": "note_published"},
}


def save(document: dict[str, Any]) -> Flow:
    flow, _ = flow_save(document=json.loads(json.dumps(document)))
    return flow


def page_for(role: Role, flow: Flow) -> Any:
    client = Client()
    client.force_login(user_ensure(username=role.value, role=role))
    return client.get(f"/flows/{flow.slug}/")


def items(html: str) -> dict[str, str]:
    """``{key: "true" | "false"}`` for each checklist item of the page."""
    return dict(re.findall(r'data-launch-item="(\w+)" data-ok="(true|false)"', html))


def test_the_flow_page_lists_what_is_missing_and_links_to_the_editor() -> None:
    flow = save(DRAFT)
    response = page_for(Role.VIEWER, flow)
    assert response.status_code == 200
    html = response.content.decode()
    assert items(html) == {
        "trigger": "true",
        "action": "false",
        "feedback": "false",
        "roi": "false",
    }
    assert 'data-launch-ready="false"' in html
    assert "3 of 4 missing" in html
    assert "No action: add an agent or a tool node from the palette." in html
    assert "Runs start when a signed request reaches the flow&#x27;s webhook URL." in html
    for key in ("trigger", "action", "feedback", "roi"):
        assert f'href="/flows/{flow.slug}/edit/?launch={key}"' in html


def test_a_complete_latest_version_reads_as_ready_to_go_live() -> None:
    flow = save(DRAFT)
    save(COMPLETE)  # version 2 is the latest: the one publishing would make live
    html = page_for(Role.DESIGNER, flow).content.decode()
    assert items(html) == {"trigger": "true", "action": "true", "feedback": "true", "roi": "true"}
    assert 'data-launch-ready="true"' in html
    assert "version 2" in html and "0 of 4 missing" in html
    assert "the loop is closed" in html


def test_a_flow_measured_by_an_outcome_without_a_subject_is_not_ready() -> None:
    flow = save({key: value for key, value in COMPLETE.items() if key != "subject"})
    html = page_for(Role.DESIGNER, flow).content.decode()
    assert items(html) == {"trigger": "true", "action": "true", "feedback": "false", "roi": "true"}
    assert 'data-launch-ready="false"' in html
    assert "the flow has no subject" in html
    assert f'href="/flows/{flow.slug}/edit/?launch=feedback"' in html
