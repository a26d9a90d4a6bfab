"""Issue 14, finding 4: a captured signed webhook replayed inside the signature window is the
same event, whatever event id the replayer puts beside it — on the flow hooks and on the
outcomes hook (where a duplicate would inflate ROI). Real HTTP through the Django test client,
real signatures, real rows."""

from __future__ import annotations

import json
import secrets
import time
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from flows.models import Outcome, Run, WebhookReceipt
from flows.triggers import signing, webhooks
from flows.versions import flow_save, flow_version_publish
from tests.support.flows import document, launchable, node, scripted

pytestmark = pytest.mark.django_db
JSON = "application/json"
BODY = json.dumps({"email": "a@x.test"}).encode()


@pytest.fixture
def hook() -> tuple[str, str]:
    """A published flow with a webhook trigger, and its signing secret."""
    flow, version = flow_save(
        document=launchable(
            document(
                "inbound",
                [node("draft", "agent", agent="writer", prompt="hi")],
                [],
                agents=[scripted("writer", "ok")],
                subject="{{ input.email }}",
                trigger={"type": "webhook", "snapshot": ["email"]},
            )
        )
    )
    flow_version_publish(flow=flow, version=version)
    return f"/api/hooks/flows/{flow.slug}", webhooks.webhook_secret_issue(flow=flow).value


@pytest.fixture
def outcome_hook(hook: tuple[str, str]) -> tuple[str, str]:
    """The outcomes hook and its secret, after the flow hook started a run on ``a@x.test`` (an
    outcome must attach to a run of its subject)."""
    path, secret = hook
    started = post(path, BODY, signing.sign(secret, BODY, int(time.time())))
    assert started.status_code == 202, started.content
    return "/api/hooks/outcomes", webhooks.webhook_secret_issue(flow=None).value


def post(path: str, body: bytes, header: str, **ids: str) -> Any:
    headers = {signing.HEADER: header, **ids}
    return Client().post(path, body, content_type=JSON, headers=headers)


@pytest.mark.parametrize("id_header", ["X-Event-Id", "Idempotency-Key"])
def test_a_flow_webhook_replayed_with_a_fresh_event_id_starts_nothing(
    hook: tuple[str, str], id_header: str
) -> None:
    path, secret = hook
    header = signing.sign(secret, BODY, int(time.time()))
    first = post(path, BODY, header, **{id_header: "evt_original"})
    assert first.status_code == 202, first.content
    replay = post(path, BODY, header, **{id_header: "evt_forged"})
    assert replay.status_code == 202, replay.content
    assert replay.json() == {"run_id": first.json()["run_id"], "created": False}
    assert Run.objects.count() == 1


def test_a_replay_that_drops_the_event_id_starts_nothing(hook: tuple[str, str]) -> None:
    path, secret = hook
    header = signing.sign(secret, BODY, int(time.time()))
    first = post(path, BODY, header, **{"X-Event-Id": "evt_1"})
    replay = post(path, BODY, header)
    assert replay.json() == {"run_id": first.json()["run_id"], "created": False}
    assert Run.objects.count() == 1


def test_a_replay_with_a_decoy_digest_in_front_starts_nothing(hook: tuple[str, str]) -> None:
    """Any matching ``v1`` passes verification, so the first one is the replayer's to choose:
    deduplication must not key on it."""
    path, secret = hook
    header = signing.sign(secret, BODY, int(time.time()))
    first = post(path, BODY, header)
    stamp, digest = header.split(",")
    decoy = f"{stamp},v1={secrets.token_hex(32)},{digest}"
    replay = post(path, BODY, decoy)
    assert replay.status_code == 202, replay.content
    assert replay.json() == {"run_id": first.json()["run_id"], "created": False}
    assert Run.objects.count() == 1


def test_a_sender_retry_and_a_new_event_are_told_apart(hook: tuple[str, str]) -> None:
    """A sender's retry re-signs with a new timestamp and keeps its event id: a duplicate. A
    different body is a different event: a new run."""
    path, secret = hook
    now = int(time.time())
    first = post(path, BODY, signing.sign(secret, BODY, now - 5), **{"X-Event-Id": "evt_r"})
    retry = post(path, BODY, signing.sign(secret, BODY, now), **{"X-Event-Id": "evt_r"})
    assert retry.json() == {"run_id": first.json()["run_id"], "created": False}
    other = json.dumps({"email": "b@x.test"}).encode()
    new = post(path, other, signing.sign(secret, other, now), **{"X-Event-Id": "evt_n"})
    assert new.status_code == 202 and new.json()["created"] is True
    assert Run.objects.count() == 2


def test_an_outcome_webhook_replayed_with_a_fresh_event_id_records_nothing(
    outcome_hook: tuple[str, str],
) -> None:
    path, secret = outcome_hook
    body = json.dumps({"subject": "a@x.test", "metric": "invoice_paid", "value": 500}).encode()
    header = signing.sign(secret, body, int(time.time()))
    first = post(path, body, header, **{"X-Event-Id": "o-1"})
    assert first.status_code == 202, first.content
    for forged in ("o-2", "o-3"):
        replay = post(path, body, header, **{"X-Event-Id": forged})
        assert replay.status_code == 202, replay.content
        assert replay.json() == {"outcome_id": first.json()["outcome_id"], "created": False}
    replay = post(path, body, header, **{"Idempotency-Key": "o-4"})
    assert replay.json()["created"] is False
    assert Outcome.objects.count() == 1
    assert Outcome.objects.get().run_id == Run.objects.get().id


def test_receipts_are_kept_for_the_signature_window_then_pruned(hook: tuple[str, str]) -> None:
    path, secret = hook
    post(path, BODY, signing.sign(secret, BODY, int(time.time())))
    assert WebhookReceipt.objects.count() == 1
    assert webhooks.webhook_receipts_prune() == 0  # a replay could still be accepted
    later = timezone.now() + timedelta(seconds=2 * 300 + 61)
    assert webhooks.webhook_receipts_prune(now=later) == 1
