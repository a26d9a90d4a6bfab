"""Webhook triggers: every bad signature or body is refused before anything is written; a
repeated event starts one run; accepted runs are handed over in batches, not per request."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
import time_machine
from django.conf import settings
from django.test import Client
from django.test.utils import override_settings

from agents.models import AuditEvent
from controlroom.accounts import token_issue, user_ensure
from controlroom.roles import Role
from flows.engine.runs import run_start
from flows.models import Outcome, Run, RunEvent, Step, WebhookSecret
from flows.triggers import dispatch, signing, webhooks
from tests.support.flows import document, node, save_live, scripted

pytestmark = pytest.mark.django_db
JSON = "application/json"


def _flow(slug: str = "inbound", trigger_type: str = "webhook") -> Any:
    return save_live(
        document(
            slug,
            [node("draft", "agent", agent="writer", prompt="hi")],
            [],
            agents=[scripted("writer", "ok")],
            subject="{{ input.email }}",
            trigger={"type": trigger_type, "snapshot": ["email"]},
        )
    )


@pytest.fixture
def hook() -> tuple[Any, str]:
    flow = _flow()
    return flow, webhooks.webhook_secret_issue(flow=flow).value


def send(
    path: str,
    body: bytes,
    secret: str | None,
    *,
    at: float | None = None,
    event_id: str | None = None,
    content_type: str = JSON,
    header: str | None = None,
) -> Any:
    headers: dict[str, str] = {}
    if header is not None:
        headers["HTTP_X_CONTROLROOM_SIGNATURE"] = header
    elif secret is not None:
        stamp = int(at if at is not None else time.time())
        headers["HTTP_X_CONTROLROOM_SIGNATURE"] = signing.sign(secret, body, stamp)
    if event_id is not None:
        headers["HTTP_X_EVENT_ID"] = event_id
    return Client().post(path, body, content_type=content_type, **headers)


def _nothing_written() -> None:
    assert not Run.objects.exists()
    assert not Step.objects.exists()
    assert not Outcome.objects.exists()


BODY = json.dumps({"email": "a@x.test", "secret_field": "drop me"}).encode()


def test_a_signed_webhook_starts_a_run_with_the_snapshot(hook: tuple[Any, str]) -> None:
    flow, secret = hook
    response = send(f"/api/hooks/flows/{flow.slug}", BODY, secret, event_id="evt_1")
    assert response.status_code == 202, response.content
    run = Run.objects.get(id=response.json()["run_id"])
    assert run.input == {"email": "a@x.test"} and run.subject == "a@x.test"
    dropped = RunEvent.objects.get(run=run, kind="input.dropped")
    assert dropped.data == {"fields": ["secret_field"]}


def test_the_same_event_five_times_makes_one_run(hook: tuple[Any, str]) -> None:
    flow, secret = hook
    ids = {
        send(f"/api/hooks/flows/{flow.slug}", BODY, secret, event_id="evt_5").json()["run_id"]
        for _ in range(5)
    }
    assert len(ids) == 1 and Run.objects.count() == 1


def test_a_replayed_request_without_event_id_makes_one_run(hook: tuple[Any, str]) -> None:
    flow, secret = hook
    header = signing.sign(secret, BODY, int(time.time()))
    first = send(f"/api/hooks/flows/{flow.slug}", BODY, None, header=header)
    again = send(f"/api/hooks/flows/{flow.slug}", BODY, None, header=header)
    assert first.json()["run_id"] == again.json()["run_id"]
    assert again.json()["created"] is False and Run.objects.count() == 1


def _bad_headers(secret: str, other: str) -> dict[str, str | None]:
    now = int(time.time())
    good = signing.sign(secret, BODY, now)
    return {
        "missing": None,
        "empty": "",
        "wrong": signing.sign("whsec_wrong", BODY, now),
        "truncated": good[:-8],
        "no_timestamp": good.split(",", 1)[1],
        "stale": signing.sign(secret, BODY, now - 301),
        "future": signing.sign(secret, BODY, now + 301),
        "wrong_flow": signing.sign(other, BODY, now),
        "other_body": signing.sign(secret, b'{"email": "b@x.test"}', now),
        "garbage": "t=abc,v1=zz",
    }


@pytest.mark.parametrize(
    "case",
    [
        "missing",
        "empty",
        "wrong",
        "truncated",
        "no_timestamp",
        "stale",
        "future",
        "wrong_flow",
        "other_body",
        "garbage",
    ],
)
def test_bad_signatures_are_401_and_write_nothing(hook: tuple[Any, str], case: str) -> None:
    flow, secret = hook
    other_flow = _flow("other")
    other = webhooks.webhook_secret_issue(flow=other_flow).value
    # The clock stands still so "301 s off" is exactly that when the server checks it.
    with time_machine.travel(int(time.time()), tick=False):
        header = _bad_headers(secret, other)[case]
        headers = {} if header is None else {"HTTP_X_CONTROLROOM_SIGNATURE": header}
        response = Client().post(
            f"/api/hooks/flows/{flow.slug}",
            BODY,
            content_type=JSON,
            HTTP_X_EVENT_ID="e",
            **headers,
        )
    assert response.status_code == 401, response.content
    assert response.json()["error"]["code"] == "bad_signature"
    _nothing_written()


def test_a_replayed_signature_with_another_body_is_refused(hook: tuple[Any, str]) -> None:
    flow, secret = hook
    header = signing.sign(secret, BODY, int(time.time()))
    assert send(f"/api/hooks/flows/{flow.slug}", BODY, None, header=header).status_code == 202
    tampered = BODY.replace(b"a@x.test", b"z@x.test")
    response = send(f"/api/hooks/flows/{flow.slug}", tampered, None, header=header)
    assert response.status_code == 401 and Run.objects.count() == 1


def test_within_tolerance_either_way_is_accepted(hook: tuple[Any, str]) -> None:
    flow, secret = hook
    with time_machine.travel(int(time.time()), tick=False):
        for offset, event in ((-300, "past"), (300, "future")):
            at = int(time.time()) + offset
            response = send(f"/api/hooks/flows/{flow.slug}", BODY, secret, at=at, event_id=event)
            assert response.status_code == 202, response.content


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        (b'{"a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", JSON, 400),
        (
            json.dumps(
                {"a": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}
            ).encode(),
            JSON,
            400,
        ),
        (b'{"email": "\xff\xfe"}', JSON, 400),
        (b"[1, 2]", JSON, 400),
        (b"not json", JSON, 400),
        (b'{"a": NaN}', JSON, 400),
        (BODY, "text/plain", 415),
        (BODY, "application/x-www-form-urlencoded", 415),
    ],
    ids=["deep", "nested", "utf8", "array", "garbage", "nan", "text", "form"],
)
def test_bad_bodies_are_4xx_and_write_nothing(
    hook: tuple[Any, str], body: bytes, content_type: str, status: int
) -> None:
    flow, secret = hook
    response = send(
        f"/api/hooks/flows/{flow.slug}", body, secret, event_id="e", content_type=content_type
    )
    assert response.status_code == status, response.content
    assert set(response.json()) == {"error"}
    _nothing_written()


def test_oversized_bodies_are_refused_before_reading(hook: tuple[Any, str]) -> None:
    flow, secret = hook
    big = json.dumps({"email": "a@x.test", "pad": "x" * 2_000_000}).encode()
    assert send(f"/api/hooks/flows/{flow.slug}", big, secret, event_id="e").status_code == 413
    with override_settings(CONTROLROOM={**settings.CONTROLROOM, "WEBHOOK_MAX_BYTES": 2048}):
        mid = json.dumps({"email": "a@x.test", "pad": "x" * 3000}).encode()
        assert send(f"/api/hooks/flows/{flow.slug}", mid, secret, event_id="e").status_code == 413
    _nothing_written()


def test_flows_without_a_webhook_trigger_or_secret_refuse() -> None:
    manual = _flow("manual-only", trigger_type="manual")
    webhooks.webhook_secret_issue(flow=manual)
    assert send("/api/hooks/flows/manual-only", BODY, "x", event_id="e").status_code == 404
    _flow("no-secret")
    assert send("/api/hooks/flows/no-secret", BODY, "x", event_id="e").status_code == 401
    assert send("/api/hooks/flows/nope", BODY, "x", event_id="e").status_code == 404
    _nothing_written()


def test_rotation_keeps_the_old_secret_until_its_deadline(hook: tuple[Any, str]) -> None:
    flow, old = hook
    new = webhooks.webhook_secret_issue(flow=flow, overlap_seconds=3600).value
    path = f"/api/hooks/flows/{flow.slug}"
    assert send(path, BODY, old, event_id="1").status_code == 202
    assert send(path, BODY, new, event_id="2").status_code == 202
    webhooks.webhook_secret_issue(flow=flow, overlap_seconds=0)
    assert send(path, BODY, old, event_id="3").status_code == 401
    assert send(path, BODY, new, event_id="4").status_code == 401
    assert WebhookSecret.objects.filter(flow=flow).count() == 3


def test_accepted_runs_wait_for_the_batched_dispatcher(hook: tuple[Any, str]) -> None:
    flow, secret = hook
    for n in range(3):
        # Distinct events differ in what is signed (the same body and t is a replay).
        body = json.dumps({"email": f"{n}@x.test"}).encode()
        send(f"/api/hooks/flows/{flow.slug}", body, secret, event_id=f"b{n}")
    queued = Step.objects.filter(status="queued")
    assert queued.count() == 3 and not queued.filter(enqueued_at__isnull=False).exists()
    # publish_now runs after commit; with no broker reachable it marks the rows unpublished
    # again, so count only what the dispatcher claimed.
    assert dispatch.dispatch_pending() == 3


def test_secrets_are_issued_through_the_api_by_designers(hook: tuple[Any, str]) -> None:
    flow, _ = hook
    designer = user_ensure(username="designer", role=Role.DESIGNER)
    viewer = user_ensure(username="viewer", role=Role.VIEWER)
    client = Client(HTTP_AUTHORIZATION=f"Bearer {token_issue(user=designer)}")
    response = client.post(
        f"/api/flows/{flow.slug}/webhook-secrets", {"overlap_seconds": 60}, content_type=JSON
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["secret"].startswith("whsec_") and body["url"].endswith("/api/hooks/flows/inbound")
    assert body["previous_valid_until"] is not None
    assert (
        send(f"/api/hooks/flows/{flow.slug}", BODY, body["secret"], event_id="x").status_code == 202
    )
    denied = Client(HTTP_AUTHORIZATION=f"Bearer {token_issue(user=viewer)}").post(
        f"/api/flows/{flow.slug}/webhook-secrets", {}, content_type=JSON
    )
    assert denied.status_code == 403


def test_outcomes_arrive_by_signed_webhook_once() -> None:
    run, _ = run_start(flow=_flow(), input={"email": "a@x.test"})
    secret = webhooks.webhook_secret_issue(flow=None).value
    body = json.dumps({"subject": "a@x.test", "metric": "invoice_paid", "value": 99.95}).encode()
    ids = {
        send("/api/hooks/outcomes", body, secret, event_id="o1").json()["outcome_id"]
        for _ in range(3)
    }
    assert len(ids) == 1
    outcome = Outcome.objects.get()
    assert str(outcome.value.normalize()) == "99.95" and outcome.source == "webhook"
    assert outcome.run_id == run.id
    assert send("/api/hooks/outcomes", body, "whsec_bad", event_id="o2").status_code == 401
    bad = send("/api/hooks/outcomes", b'{"metric": "m"}', secret, event_id="o3")
    assert bad.status_code == 422 and bad.json()["error"]["details"][0]["pointer"] == "/subject"
    assert Outcome.objects.count() == 1


def test_an_outcome_webhook_for_a_subject_no_run_worked_on_is_refused() -> None:
    run_start(flow=_flow(), input={"email": "a@x.test"})
    secret = webhooks.webhook_secret_issue(flow=None).value
    body = json.dumps({"subject": "b@x.test", "metric": "invoice_paid", "value": 1}).encode()
    refused = send("/api/hooks/outcomes", body, secret, event_id="o1")
    error = refused.json()["error"]
    assert (refused.status_code, error["code"]) == (422, "no_matching_run")
    assert error["details"][0]["pointer"] == "/subject"
    assert not Outcome.objects.exists()


def test_signing_helpers_round_trip() -> None:
    header = signing.sign("s", b"{}", 100)
    parsed = signing.parse(header)
    signing.verify(parsed, b"{}", ["other", "s"])
    with pytest.raises(signing.SignatureError):
        signing.verify(parsed, b"{} ", ["s"])
    with pytest.raises(signing.SignatureError):
        signing.check_fresh(parsed, now=401.0, tolerance=300)


def test_the_trigger_api_shows_the_url_and_secret_metadata(hook: tuple[Any, str]) -> None:
    flow, _ = hook
    viewer = user_ensure(username="viewer", role=Role.VIEWER)
    client = Client(HTTP_AUTHORIZATION=f"Bearer {token_issue(user=viewer)}")
    body = client.get(f"/api/flows/{flow.slug}/trigger").json()
    assert body["type"] == "webhook" and body["url"].endswith("/api/hooks/flows/inbound")
    assert [s["number"] for s in body["secrets"]] == [1]
    assert "whsec_" not in json.dumps(body)
    listed = client.get("/api/triggers?type=webhook").json()["items"]
    assert [item["flow"] for item in listed] == ["inbound"]
    assert client.get("/api/flows/nope/trigger").status_code == 404


def test_designers_reveal_a_live_secret_and_each_reveal_is_audited(
    hook: tuple[Any, str],
) -> None:
    flow, secret = hook
    designer = user_ensure(username="designer", role=Role.DESIGNER)
    client = Client(HTTP_AUTHORIZATION=f"Bearer {token_issue(user=designer)}")
    url = f"/api/flows/{flow.slug}/webhook-secrets/1/reveal"
    response = client.post(url)
    assert response.status_code == 200, response.content
    assert response.json()["secret"] == secret and response.json()["number"] == 1
    audited = AuditEvent.objects.get(action="webhook_secret.revealed")
    assert (audited.actor, audited.flow_slug, audited.data) == (
        "designer",
        "inbound",
        {"number": 1},
    )
    assert secret not in json.dumps(audited.data) + audited.reason
    unknown = client.post(f"/api/flows/{flow.slug}/webhook-secrets/7/reveal")
    assert unknown.status_code == 404
    assert unknown.json()["error"]["message"] == "flow 'inbound' has no signing secret 7"
    viewer = user_ensure(username="viewer", role=Role.VIEWER)
    denied = Client(HTTP_AUTHORIZATION=f"Bearer {token_issue(user=viewer)}").post(url)
    assert denied.status_code == 403
    assert AuditEvent.objects.filter(action="webhook_secret.revealed").count() == 1


def test_an_expired_secret_is_not_revealed(hook: tuple[Any, str]) -> None:
    flow, _ = hook
    webhooks.webhook_secret_issue(flow=flow, overlap_seconds=0)
    admin = user_ensure(username="admin", role=Role.ADMIN)
    client = Client(HTTP_AUTHORIZATION=f"Bearer {token_issue(user=admin)}")
    expired = client.post(f"/api/flows/{flow.slug}/webhook-secrets/1/reveal")
    assert expired.status_code == 409
    assert expired.json()["error"]["message"].startswith("signing secret 1 expired at ")
    assert client.post(f"/api/flows/{flow.slug}/webhook-secrets/2/reveal").status_code == 200


def test_the_trigger_api_gives_every_url_and_the_secrets_whatever_the_type() -> None:
    flow = _flow(slug="manual-now", trigger_type="manual")
    webhooks.webhook_secret_issue(flow=flow)
    viewer = user_ensure(username="viewer", role=Role.VIEWER)
    client = Client(HTTP_AUTHORIZATION=f"Bearer {token_issue(user=viewer)}")
    body = client.get(f"/api/flows/{flow.slug}/trigger").json()
    assert body["type"] == "manual" and body["url"] is None
    assert body["urls"] == {
        "webhook": "http://testserver/api/hooks/flows/manual-now",
        "form": "http://testserver/forms/manual-now/",
    }
    assert [s["number"] for s in body["secrets"]] == [1]
