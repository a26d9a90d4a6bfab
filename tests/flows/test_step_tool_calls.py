"""A step's opened timeline row lists every tool call it made, escaped."""

from __future__ import annotations

import pytest
from django.test import Client

from agents.models import ToolCall
from controlroom.accounts import user_ensure
from controlroom.roles import Role
from flows.engine import runs
from flows.models import Step
from tests.support.flows import document, drive, node, save, scripted

pytestmark = pytest.mark.django_db


def test_the_step_page_shows_the_agents_tool_calls():
    agent = scripted(
        "mailer",
        {
            "tool_calls": [
                {
                    "name": "send_email",
                    "arguments": {"to": "ada@example.com", "body": "<script>alert(1)</script>"},
                }
            ],
            "then": "sent",
        },
        tools=["send_email"],
    )
    flow = save(document("mailer", [node("mail", "agent", agent="mailer")], [], agents=[agent]))
    run = drive(runs.run_start(flow=flow, input={})[0])
    assert run.status == "succeeded", run.error
    step = Step.objects.get(run=run)
    call = ToolCall.objects.get(step_id=step.id)
    viewer = user_ensure(username="viewer", role=Role.VIEWER, password="viewer-pass-1")
    client = Client()
    client.force_login(viewer)
    html = client.get(f"/runs/{run.id}/steps/{step.id}/").content.decode()
    assert "Tool calls" in html
    assert "send_email" in html
    assert call.idempotency_key in html
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
