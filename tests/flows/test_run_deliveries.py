"""A run whose e-mail has not reached the mail server yet says so, on its page and in the API,
even after the run itself succeeded."""

from __future__ import annotations

import pytest
from django.test import Client

from agents import outbox
from agents.models import OutboxMessage
from controlroom.accounts import token_issue, user_ensure
from controlroom.roles import Role
from flows.engine import runs
from tests.support.flows import document, drive, node, save

pytestmark = pytest.mark.django_db


def test_a_pending_e_mail_shows_on_the_run_page_and_in_the_api_until_it_is_sent() -> None:
    viewer = user_ensure(username="vic", role=Role.VIEWER)
    flow = save(
        document(
            "notify",
            [node("mail", "tool", tool="send_email", args={"to": "ada@example.com", "body": "Hi"})],
            [],
        )
    )
    run, _ = runs.run_start(flow=flow, input={})
    assert drive(run).status == "succeeded"
    api = Client(HTTP_AUTHORIZATION=f"Bearer {token_issue(user=viewer)}")
    page = Client()
    page.force_login(viewer)

    detail = api.get(f"/api/runs/{run.id}").json()
    assert detail["deliveries"] == {"pending": 1, "sent": 0, "failed": 0}
    assert "1 pending delivery" in page.get(f"/runs/{run.id}/").content.decode()
    assert api.get("/api/runs").json()["items"][0]["deliveries"] is None  # detail only

    assert outbox.outbox_deliver(message_id=OutboxMessage.objects.get().id)
    assert api.get(f"/api/runs/{run.id}").json()["deliveries"] == {
        "pending": 0,
        "sent": 1,
        "failed": 0,
    }
    assert 'id="run-deliveries"' not in page.get(f"/runs/{run.id}/").content.decode()
