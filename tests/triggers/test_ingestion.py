"""Webhook ingestion end to end on real processes: a burst is accepted without a Celery
publish per request, and the beat-driven batched dispatcher hands every accepted run to a real
worker (the reconciler is slowed right down here, so it cannot be what delivers them)."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from django.test import Client

from flows.models import Run
from flows.triggers import signing, webhooks
from tests.support.flows import document, node, save_live
from tests.support.wait import wait_for

# committed rows: the test's own worker and beat processes dispatch and run them
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def slow_reconciler(process_env: dict[str, str]) -> None:
    process_env["CONTROLROOM_RECONCILE_EVERY_SECONDS"] = "600"
    process_env["CONTROLROOM_DISPATCH_EVERY_SECONDS"] = "0.5"


def test_a_burst_of_webhooks_all_run_to_completion(
    slow_reconciler: None, own_worker: Any, own_beat: Any
) -> None:
    flow = save_live(
        document(
            "burst",
            [node("work", "tool", tool="counted_sleep", args={"seconds": 0})],
            [],
            trigger={"type": "webhook"},
        )
    )
    secret = webhooks.webhook_secret_issue(flow=flow).value
    client = Client()
    for n in range(20):
        body = json.dumps({"n": n}).encode()
        response = client.post(
            "/api/hooks/flows/burst",
            body,
            content_type="application/json",
            HTTP_X_CONTROLROOM_SIGNATURE=signing.sign(secret, body, int(time.time())),
            HTTP_X_EVENT_ID=f"burst-{n}",
        )
        assert response.status_code == 202, response.content
    wait_for(
        lambda: Run.objects.filter(flow=flow, status="succeeded").count() == 20,
        timeout=60,
        message="all 20 accepted runs to succeed",
    )
