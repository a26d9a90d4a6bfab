"""Outcomes: late business results attach to the run for their subject, as Decimals, once."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from controlroom.accounts import token_issue, user_ensure
from controlroom.roles import Role
from flows.engine.runs import run_start
from flows.models import Outcome, RunEvent
from flows.triggers.outcomes import OutcomeError, outcome_record
from tests.support.flows import document, node, save, scripted

pytestmark = pytest.mark.django_db
JSON = "application/json"


@pytest.fixture
def api() -> Callable[[str], Client]:
    def client_for(role: str) -> Client:
        if role == "outsider":
            user = get_user_model().objects.create_user(username="outsider")
        else:
            user = user_ensure(username=role, role=Role(role))
        return Client(HTTP_AUTHORIZATION=f"Bearer {token_issue(user=user)}")

    return client_for


def _flow(slug: str = "lead") -> Any:
    return save(
        document(
            slug,
            [node("draft", "agent", agent="writer", prompt="hi")],
            [],
            agents=[scripted("writer", "ok")],
            subject="{{ input.email }}",
        )
    )


def test_an_outcome_attaches_to_the_latest_run_for_its_subject() -> None:
    flow = _flow()
    run_start(flow=flow, input={"email": "a@x.test"})
    latest, _ = run_start(flow=flow, input={"email": "a@x.test"})
    recorded = outcome_record(subject="a@x.test", metric="meeting_booked", value="1")
    assert recorded.created
    assert recorded.outcome.run_id == latest.id
    assert recorded.outcome.flow_id == flow.id
    assert RunEvent.objects.filter(run=latest, kind="outcome.recorded").count() == 1


def test_values_are_decimals_not_floats() -> None:
    run_start(flow=_flow(), input={"email": "s"})
    recorded = outcome_record(subject="s", metric="invoice_paid", value="1234.10")
    recorded.outcome.refresh_from_db()
    assert recorded.outcome.value == Decimal("1234.1")


def test_a_repeated_event_key_records_nothing() -> None:
    run_start(flow=_flow(), input={"email": "s"})
    first = outcome_record(subject="s", metric="m", event_key="e1")
    again = outcome_record(subject="s", metric="m", event_key="e1")
    assert not again.created and again.outcome.id == first.outcome.id
    assert Outcome.objects.count() == 1


@pytest.mark.parametrize(
    ("kwargs", "pointer"),
    [
        ({"subject": "", "metric": "m"}, "/subject"),
        ({"subject": "s", "metric": ""}, "/metric"),
        ({"subject": "s", "metric": "m", "value": "NaN"}, "/value"),
        ({"subject": "s", "metric": "m", "value": True}, "/value"),
        ({"subject": "s", "metric": "m", "value": "1e20"}, "/value"),
        ({"subject": "s", "metric": "m", "run_id": "nope"}, "/run_id"),
    ],
)
def test_invalid_outcomes_name_the_field(kwargs: dict[str, Any], pointer: str) -> None:
    with pytest.raises(OutcomeError) as caught:
        outcome_record(**kwargs)
    assert caught.value.details[0]["pointer"] == pointer
    assert not Outcome.objects.exists()


def test_api_records_lists_and_filters(api: Callable[[str], Client]) -> None:
    flow = _flow()
    run, _ = run_start(flow=flow, input={"email": "b@x.test"})
    designer = api("designer")
    response = designer.post(
        "/api/outcomes",
        {
            "subject": "b@x.test",
            "metric": "meeting_booked",
            "value": 0.1,
            "flow": "lead",
            "occurred_at": "2026-11-20T10:00:00+01:00",
        },
        content_type=JSON,
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["run_id"] == str(run.id) and body["value"] == "0.1" and body["created"]
    designer.post("/api/outcomes", {"subject": "c", "metric": "other"}, content_type=JSON)
    listed = api("viewer").get("/api/outcomes?metric=meeting_booked").json()
    assert [item["subject"] for item in listed["items"]] == ["b@x.test"]
    assert (
        api("viewer").get(f"/api/outcomes?run_id={run.id}").json()["items"][0]["id"] == body["id"]
    )


def test_api_idempotency_key_returns_the_first_outcome(api: Callable[[str], Client]) -> None:
    run_start(flow=_flow(), input={"email": "s"})
    client = api("designer")
    payload = {"subject": "s", "metric": "m", "value": "2"}
    first = client.post("/api/outcomes", payload, content_type=JSON, HTTP_IDEMPOTENCY_KEY="k")
    again = client.post("/api/outcomes", payload, content_type=JSON, HTTP_IDEMPOTENCY_KEY="k")
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["id"] == again.json()["id"]
    assert Outcome.objects.count() == 1


def test_an_outcome_for_a_subject_no_run_worked_on_is_refused_and_kept_nowhere() -> None:
    flow = _flow()
    run_start(flow=flow, input={"email": "a@x.test"})
    with pytest.raises(OutcomeError) as caught:
        outcome_record(subject="b@x.test", metric="m", flow_slug=flow.slug)
    assert (caught.value.status, caught.value.code) == (422, "no_matching_run")
    assert caught.value.details[0]["pointer"] == "/subject"
    assert not Outcome.objects.exists()


def test_api_errors_have_pointers_and_roles_are_checked(api: Callable[[str], Client]) -> None:
    bad = api("designer").post(
        "/api/outcomes", {"subject": "s", "metric": "m", "value": "lots"}, content_type=JSON
    )
    assert bad.status_code == 400
    assert bad.json()["error"]["details"][0]["pointer"] == "/value"
    missing = api("designer").post("/api/outcomes", {"metric": "m"}, content_type=JSON)
    assert missing.status_code == 422
    assert missing.json()["error"]["details"][0]["pointer"] == "/subject"
    unknown = api("designer").post(
        "/api/outcomes", {"subject": "s", "metric": "m", "flow": "nope"}, content_type=JSON
    )
    assert unknown.status_code == 404
    viewer = api("viewer").post("/api/outcomes", {"subject": "s", "metric": "m"}, content_type=JSON)
    assert viewer.status_code == 403
    assert Client().get("/api/outcomes").status_code == 401
    assert not Outcome.objects.exists()
