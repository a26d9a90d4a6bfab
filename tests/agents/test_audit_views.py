"""The audit page, its exports and /api/audit: who may read, filters, keyset pages, the chain
status, streamed CSV and JSON Lines."""

from __future__ import annotations

import csv
import io
import json
import uuid
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.http import StreamingHttpResponse
from django.test import Client
from django.utils import timezone

from agents.audit import audit_record, audit_seal, audit_verify
from agents.models import AuditEvent
from controlroom.accounts import user_ensure
from controlroom.roles import Role

pytestmark = pytest.mark.django_db

RUN = uuid.uuid4()


@pytest.fixture
def cast() -> dict[str, Any]:
    users = {role.value: user_ensure(username=role.value, role=role) for role in Role}
    users["outsider"] = get_user_model().objects.create_user(username="outsider")
    return users


@pytest.fixture
def trail(cast: dict[str, Any]) -> None:
    audit_record(kind="config", action="flow.saved", actor=cast["designer"], flow_slug="leads")
    audit_record(kind="config", action="agent.created", actor=cast["admin"], subject="writer")
    for n in range(3):
        audit_record(
            kind="transition",
            action="step.moved",
            flow_slug="leads",
            run_id=RUN,
            step_id=n,
            subject="ann@example.com",
            data={"to": "succeeded"},
        )
    audit_record(
        kind="decision",
        action="approval.decided",
        actor=cast["approver"],
        reason="=HYPERLINK(looks fine)",
        run_id=RUN,
    )


def _body(response: StreamingHttpResponse) -> str:
    return b"".join(response.streaming_content).decode()  # type: ignore[arg-type]


def _client(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.usefixtures("trail")
def test_every_role_reads_the_log_and_outsiders_do_not(cast: dict[str, Any]) -> None:
    for name in ("admin", "designer", "approver", "viewer"):
        response = _client(cast[name]).get("/audit/")
        assert response.status_code == 200
        assert "approval.decided" in response.content.decode()
    assert _client(cast["outsider"]).get("/audit/").status_code == 403
    assert _client(cast["outsider"]).get("/api/audit").status_code == 403
    assert _client(cast["outsider"]).get("/audit/export.csv").status_code == 403
    assert Client().get("/audit/").status_code == 302


@pytest.mark.usefixtures("trail")
def test_filters_narrow_the_page_and_the_api(cast: dict[str, Any]) -> None:
    api = _client(cast["viewer"])

    def actions(**params: str) -> list[str]:
        body = api.get("/api/audit", params).json()
        return [item["action"] for item in body["items"]]

    assert actions(kind="config") == ["agent.created", "flow.saved"]
    assert actions(action="flow.") == ["flow.saved"]
    assert actions(actor="approver") == ["approval.decided"]
    assert actions(flow="leads").count("step.moved") == 3
    assert actions(run=str(RUN), kind="decision") == ["approval.decided"]
    assert actions(subject="ann@example.com") == ["step.moved"] * 3
    today = timezone.now().date()
    assert len(actions(since=today.isoformat(), until=today.isoformat())) == 6
    assert actions(until=(today - timedelta(days=1)).isoformat()) == []
    page = api.get("/audit/", {"kind": "decision"}).content.decode()
    assert "approval.decided" in page and "flow.saved" not in page


def test_bad_filters_are_refused_with_the_field_named(cast: dict[str, Any]) -> None:
    api = _client(cast["viewer"])
    response = api.get("/api/audit", {"kind": "gossip", "run": "nope", "since": "yesterday"})
    assert response.status_code == 422
    pointers = {detail["pointer"] for detail in response.json()["error"]["details"]}
    assert pointers == {"/query/kind", "/query/run", "/query/since"}
    assert api.get("/api/audit", {"cursor": "garbage"}).status_code == 400
    page = api.get("/audit/", {"since": "2026-02-30"})
    assert page.status_code == 400 and "Some filters need attention" in page.content.decode()


def test_keyset_pages_walk_every_row_once(cast: dict[str, Any]) -> None:
    for n in range(7):
        audit_record(kind="config", action=f"thing.{n}")
    api = _client(cast["viewer"])
    seen: list[str] = []
    cursor = ""
    while True:
        body = api.get("/api/audit", {"limit": "3", "cursor": cursor}).json()
        seen += [item["action"] for item in body["items"]]
        cursor = body["next_cursor"]
        if not cursor:
            break
    assert seen == [f"thing.{n}" for n in reversed(range(7))]


@pytest.mark.usefixtures("trail")
def test_the_page_shows_how_far_the_chain_is_sealed_and_verified(cast: dict[str, Any]) -> None:
    client = _client(cast["viewer"])
    assert "not verified yet" in client.get("/audit/").content.decode()
    audit_seal()
    audit_verify()
    page = client.get("/audit/").content.decode()
    assert "seq 6" in page and "verified" in page


@pytest.mark.usefixtures("trail")
def test_exports_stream_the_filtered_rows_oldest_first(cast: dict[str, Any]) -> None:
    audit_seal()
    client = _client(cast["viewer"])
    response = client.get("/audit/export.csv", {"run": str(RUN)})
    assert isinstance(response, StreamingHttpResponse)
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(_body(response))))
    assert [row["action"] for row in rows] == ["step.moved"] * 3 + ["approval.decided"]
    assert rows[-1]["reason"].startswith("'=")  # no formula reaches a spreadsheet
    assert all(len(row["hash"]) == 64 for row in rows)
    response = client.get("/audit/export.jsonl", {"kind": "config"})
    assert isinstance(response, StreamingHttpResponse)
    lines = _body(response).splitlines()
    items = [json.loads(line) for line in lines]
    assert [item["action"] for item in items] == ["flow.saved", "agent.created"]
    stored = AuditEvent.objects.get(action="flow.saved")
    assert items[0]["hash"] == stored.hash and items[0]["seq"] == stored.seq
    assert client.get("/audit/export.csv", {"kind": "nope"}).status_code == 400
