"""Issue 14, finding 12: webhooks, public forms, schedules and events never run an unpublished
draft. A flow with no live version refuses them with 409 "flow X has no live version; publish
it first"; a designer's manual run of the draft stays allowed."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from controlroom.accounts import token_issue, user_ensure
from controlroom.roles import Role
from flows.engine import runs
from flows.models import Flow, Run, Trigger
from flows.triggers import events, schedules, signing, webhooks
from flows.versions import flow_save, flow_version_publish
from tests.support.flows import document, launchable, node, scripted

pytestmark = pytest.mark.django_db
GOOD = {"email": "a@x.test"}
SCHEMA = {"type": "object", "properties": {"email": {"type": "string"}}, "required": ["email"]}


def _flow(slug: str, trigger: dict[str, Any], *, publish: bool = False) -> Flow:
    """A flow whose only version has ``trigger``: a draft, or (``publish``) the live one."""
    flow, version = flow_save(
        document=launchable(
            document(
                slug,
                [node("draft", "agent", agent="writer", prompt="hi")],
                [],
                agents=[scripted("writer", "ok")],
                input_schema=SCHEMA,
                trigger=trigger,
            )
        )
    )
    if publish:
        flow_version_publish(flow=flow, version=version)
    return flow


def _unpublish(flow: Flow) -> None:
    """The flow loses its live version (its live version row went: ``on_delete=SET_NULL``)."""
    Flow.objects.filter(id=flow.id).update(live_version=None)


def _signed_post(flow: Flow, body: bytes) -> Any:
    secret = webhooks.webhook_secret_issue(flow=flow).value
    return Client().post(
        f"/api/hooks/flows/{flow.slug}",
        body,
        content_type="application/json",
        HTTP_X_CONTROLROOM_SIGNATURE=signing.sign(secret, body, int(time.time())),
        HTTP_X_EVENT_ID="evt-1",
    )


def test_a_webhook_to_a_flow_with_only_a_draft_is_409() -> None:
    flow = _flow("hook-draft", {"type": "webhook"})
    response = _signed_post(flow, json.dumps({"email": "a@x.test"}).encode())
    assert response.status_code == 409, response.content
    error = response.json()["error"]
    assert error["code"] == "no_live_version"
    assert error["message"] == "flow 'hook-draft' has no live version; publish it first"
    assert not Run.objects.exists()


def test_a_webhook_runs_the_live_version_not_a_newer_draft() -> None:
    flow = _flow("hook-live", {"type": "webhook"}, publish=True)
    live = flow.versions.get()
    doc = {**live.document, "nodes": [node("other", "agent", agent="writer", prompt="new")]}
    flow_save(document=doc)  # a newer, unpublished draft
    response = _signed_post(flow, json.dumps({"email": "a@x.test"}).encode())
    assert response.status_code == 202, response.content
    assert Run.objects.get().version_id == live.id


def test_the_public_form_of_a_draft_says_it_is_not_live_and_starts_nothing() -> None:
    flow = _flow("form-draft", {"type": "form"})
    page = Client().get(f"/forms/{flow.slug}/")
    assert page.status_code == 409
    html = page.content.decode()
    assert "has no live version; publish it first" in html
    assert 'name="email"' not in html and "<form" not in html
    posted = Client().post(f"/forms/{flow.slug}/", {"email": "a@x.test"})
    assert posted.status_code == 409
    assert not Run.objects.exists()


def test_a_due_schedule_of_a_flow_without_a_live_version_starts_nothing() -> None:
    flow = _flow(
        "cron-draft", {"type": "schedule", "cron": "0 9 * * *", "input": GOOD}, publish=True
    )
    _unpublish(flow)
    Trigger.objects.filter(flow=flow).update(next_due_at=timezone.now() - timedelta(seconds=5))
    assert schedules.schedules_fire() == 0
    assert not Run.objects.exists()


def test_an_event_trigger_of_a_flow_without_a_live_version_starts_nothing() -> None:
    source = _flow("source", {"type": "manual"}, publish=True)
    watcher = _flow(
        "watcher",
        {"type": "event", "on": "run.finished", "flow": "source", "input": GOOD},
        publish=True,
    )
    _unpublish(watcher)
    run, _ = runs.run_start(flow=source, input={"email": "a@x.test"})
    Run.objects.filter(id=run.id).update(status="succeeded")
    assert events.run_finished(run_id=run.id) == []
    assert not Run.objects.filter(flow=watcher).exists()


def test_a_designer_may_still_run_the_draft_by_hand() -> None:
    flow = _flow("manual-draft", {"type": "webhook"})
    designer = user_ensure(username="designer", role=Role.DESIGNER)
    client = Client(HTTP_AUTHORIZATION=f"Bearer {token_issue(user=designer)}")
    response = client.post(
        f"/api/flows/{flow.slug}/runs",
        {"input": {"email": "a@x.test"}},
        content_type="application/json",
    )
    assert response.status_code == 202, response.content
    assert Run.objects.get().version.number == 1
