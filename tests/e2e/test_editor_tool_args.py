"""Tool arguments in the flow editor, in a real Chromium against the real stack: a document whose
``send_email`` node names an argument the tool does not have is imported, and the validator's
problems (an unknown argument with the tool's argument names, a missing required one) are pinned
to that tool node and listed with their pointers under ``/nodes/<i>/config/args``."""

from __future__ import annotations

import json
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from controlroom.roles import Role
from flows.models import Flow
from flows.versions import flow_save
from tests.e2e.test_editor import STARTER, canvas_node, expect_validated, log_in
from tests.support.stack import AsgiServer

pytestmark = pytest.mark.django_db(transaction=True)

WRONG_ARGS: dict[str, Any] = {
    **STARTER,
    "nodes": [
        {
            "id": "write",
            "type": "agent",
            "config": {"agent": "writer", "prompt": "Write about {{ input.topic }}"},
            "position": {"x": 0, "y": 0},
        },
        {
            "id": "mail",
            "type": "tool",
            "config": {
                "tool": "send_email",
                "args": {"recipient": "ann@example.com", "body": "{{ steps.write.output }}"},
            },
            "position": {"x": 280, "y": 0},
        },
        {"id": "done", "type": "end", "position": {"x": 560, "y": 0}},
    ],
    "edges": [{"from": "write", "to": "mail"}, {"from": "mail", "to": "done"}],
}


@pytest.fixture
def starter() -> Flow:
    flow, _ = flow_save(document=json.loads(json.dumps(STARTER)))
    return flow


def test_wrong_tool_arguments_are_pinned_to_the_tool_node(
    page: Page, asgi_server: AsgiServer, starter: Flow
) -> None:
    log_in(page, asgi_server.url, "dee", Role.DESIGNER)
    page.goto(f"{asgi_server.url}/flows/{starter.slug}/edit/")
    page.locator('input[type="file"]').set_input_files(
        {
            "name": "mailer.json",
            "mimeType": "application/json",
            "buffer": json.dumps(WRONG_ARGS).encode(),
        }
    )
    expect(canvas_node(page, "mail")).to_be_visible()
    expect_validated(page)
    expect(canvas_node(page, "mail").locator(".step-node")).to_have_attribute("data-problems", "2")
    expect(canvas_node(page, "write").locator(".step-node")).to_have_attribute("data-problems", "0")
    problems = page.locator(".problem-list")
    expect(problems).to_contain_text("/nodes/1/config/args/recipient")
    expect(problems).to_contain_text(
        "send_email has no argument 'recipient' (its arguments: to, subject, body)"
    )
    expect(problems).to_contain_text("send_email needs the argument 'to': it is required")
