"""Form triggers: a public page generated from the input schema (CSRF, honeypot, per-IP rate
limit with 429 + Retry-After), and the logged-in manual start built from the same fields."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
import time_machine
from django.conf import settings
from django.test import Client
from django.test.utils import override_settings

from controlroom.accounts import user_ensure
from controlroom.roles import Role
from flows.models import Run, Step
from flows.triggers import forms
from tests.support.flows import document, node, save_live, scripted

pytestmark = pytest.mark.django_db

SCHEMA = {
    "type": "object",
    "required": ["email", "seats"],
    "properties": {
        "email": {"type": "string", "format": "email", "title": "Work e-mail"},
        "seats": {"type": "integer", "minimum": 1},
        "plan": {"type": "string", "enum": ["basic", "pro"]},
        "newsletter": {"type": "boolean"},
    },
}


def _flow(slug: str | None = None, trigger: str = "form") -> Any:
    slug = slug or f"signup-{uuid.uuid4().hex[:8]}"
    return save_live(
        document(
            slug,
            [node("draft", "agent", agent="writer", prompt="hi")],
            [],
            agents=[scripted("writer", "ok")],
            input_schema=SCHEMA,
            sample_input={"email": "s@x.test", "seats": 2},
            trigger={"type": trigger},
        )
    )


GOOD = {"email": "a@x.test", "seats": "3", "plan": "pro", "newsletter": "on"}


def test_the_form_is_generated_from_the_input_schema() -> None:
    flow = _flow()
    page = Client().get(f"/forms/{flow.slug}/")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'type="email"' in html and "Work e-mail" in html
    assert 'type="number"' in html and '<option value="pro"' in html
    assert 'type="checkbox"' in html and 'name="website"' in html
    assert "csrfmiddlewaretoken" in html


def test_a_submission_starts_a_run_with_typed_input() -> None:
    flow = _flow()
    response = Client().post(f"/forms/{flow.slug}/", GOOD)
    assert response.status_code == 200, response.content[:500]
    run = Run.objects.get()
    assert run.input == {"email": "a@x.test", "seats": 3, "plan": "pro", "newsletter": True}
    assert str(run.id) in response.content.decode()
    # Handed to the workers by the batched dispatcher, like webhooks.
    assert Step.objects.filter(run=run, enqueued_at__isnull=True).exists()


def test_csrf_is_enforced() -> None:
    flow = _flow()
    client = Client(enforce_csrf_checks=True)
    assert client.post(f"/forms/{flow.slug}/", GOOD).status_code == 403
    client.get(f"/forms/{flow.slug}/")
    token = client.cookies["csrftoken"].value
    assert (
        client.post(f"/forms/{flow.slug}/", {**GOOD, "csrfmiddlewaretoken": token}).status_code
        == 200
    )
    assert Run.objects.count() == 1


def test_the_honeypot_accepts_politely_and_starts_nothing() -> None:
    flow = _flow()
    response = Client().post(f"/forms/{flow.slug}/", {**GOOD, "website": "http://spam"})
    assert response.status_code == 200 and not Run.objects.exists()


def test_invalid_input_is_shown_on_the_form() -> None:
    flow = _flow()
    response = Client().post(f"/forms/{flow.slug}/", {"email": "a@x.test", "seats": "0"})
    assert response.status_code == 422
    assert 'aria-invalid="true"' in response.content.decode()
    missing = Client().post(f"/forms/{flow.slug}/", {"seats": "1"})
    assert missing.status_code == 422 and "required" in missing.content.decode()
    assert not Run.objects.exists()


def test_per_ip_rate_limit_answers_429_with_retry_after() -> None:
    flow = _flow()
    with (
        time_machine.travel(datetime(2026, 11, 23, 9, 0, 30, tzinfo=UTC), tick=False),
        override_settings(CONTROLROOM={**settings.CONTROLROOM, "FORM_RATE_LIMIT": (2, 60)}),
    ):
        client = Client(REMOTE_ADDR="203.0.113.9")
        assert [client.post(f"/forms/{flow.slug}/", GOOD).status_code for _ in range(2)] == [
            200,
            200,
        ]
        limited = client.post(f"/forms/{flow.slug}/", GOOD)
        assert limited.status_code == 429 and 1 <= int(limited["Retry-After"]) <= 61
        other = Client(REMOTE_ADDR="203.0.113.10").post(f"/forms/{flow.slug}/", GOOD)
        assert other.status_code == 200
    assert Run.objects.count() == 3


def test_flows_without_a_form_trigger_have_no_public_form() -> None:
    flow = _flow(trigger="manual")
    assert Client().get(f"/forms/{flow.slug}/").status_code == 404
    assert Client().get("/forms/nope/").status_code == 404


def test_the_manual_start_uses_the_same_form() -> None:
    flow = _flow(trigger="manual")
    operator = Client()
    operator.force_login(user_ensure(username="designer", role=Role.DESIGNER))
    page = operator.get(f"/flows/{flow.slug}/start/")
    assert page.status_code == 200 and 'value="s@x.test"' in page.content.decode()
    response = operator.post(f"/flows/{flow.slug}/start/", GOOD)
    run = Run.objects.get()
    assert response.status_code == 302 and response["Location"].endswith(f"/runs/{run.id}/")
    assert run.created_by is not None
    viewer = Client()
    viewer.force_login(user_ensure(username="viewer", role=Role.VIEWER))
    assert viewer.post(f"/flows/{flow.slug}/start/", GOOD).status_code == 403
    assert Client().get(f"/flows/{flow.slug}/start/").status_code == 302  # to the login page


def test_coercion_keeps_types_and_reports_bad_values() -> None:
    data, errors = forms.coerce(SCHEMA, {"email": " a@x.test ", "seats": "two"})
    assert data == {"email": "a@x.test", "newsletter": False}
    assert errors == {"seats": "Not a valid value."}
