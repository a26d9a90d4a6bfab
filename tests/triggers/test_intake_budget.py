"""Webhook intake's cost, counted: a signed webhook that starts a run is one short
transaction of a handful of statements, and hands the run's first step to the dispatcher
instead of publishing it (counted, not timed; ``make bench`` times it against an insert-only
endpoint)."""

from __future__ import annotations

import json
import time

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from flows.models import Run, Step
from flows.triggers import signing, webhooks
from flows.versions import flow_save, flow_version_publish
from tests.support.flows import document, launchable, node, scripted

# committed rows: the request's transaction is a real BEGIN/COMMIT, not a savepoint
pytestmark = pytest.mark.django_db(transaction=True)

# was 22 before the lean engine (issue 13); 10 since the replay receipt (issue 14, finding 4)
ROUND_TRIPS = 10


def test_a_signed_webhook_starts_a_run_in_one_short_transaction(monkeypatch) -> None:
    published: list[int] = []
    monkeypatch.setattr("flows.tasks.publish_now", lambda step: published.append(step.id))
    flow, version = flow_save(
        document=launchable(
            document(
                "intake",
                [node("first", "agent", agent="w"), node("second", "agent", agent="w")],
                [("first", "second")],
                trigger={"type": "webhook"},
                agents=[scripted("w", "ok")],
            )
        )
    )
    flow_version_publish(flow=flow, version=version)
    secret = webhooks.webhook_secret_issue(flow=flow).value
    client = Client()

    def post(event: str) -> tuple[dict, list[str]]:
        body = json.dumps({"event": event}).encode()
        with CaptureQueriesContext(connection) as captured:
            response = client.post(
                "/api/hooks/flows/intake",
                body,
                content_type="application/json",
                HTTP_X_CONTROLROOM_SIGNATURE=signing.sign(secret, body, int(time.time())),
                HTTP_X_EVENT_ID=event,
            )
        assert response.status_code == 202, response.content
        return response.json(), [query["sql"] for query in captured.captured_queries]

    post("warm-up")  # the endpoint's secrets and the version are read once per process
    answer, statements = post("e-1")
    assert answer["created"] is True
    assert len(statements) <= ROUND_TRIPS, "\n".join(statements)
    assert statements.count("BEGIN") == 1
    outside = statements[: statements.index("BEGIN")] + statements[statements.index("COMMIT") + 1 :]
    # the flow's lookup and the replay receipt's insert (autocommit); nothing after the commit
    assert len(outside) <= 2, outside
    run = Run.objects.get(flow=flow, idempotency_key="hook:e-1")
    step = Step.objects.get(run=run)
    assert (step.status, step.enqueued_at) == ("queued", None)  # for the dispatcher
    assert published == []

    again, _ = post("e-1")  # the same event again: the original run, nothing new
    assert again == {"run_id": str(run.id), "created": False}
    assert Run.objects.filter(flow=flow).count() == 2
