"""Verdicts are visible where they happened: on the step in the run page, on the approval
card of the run page, and in the inbox detail of a policy approval."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from agents.models import Policy
from flows.engine import runs
from flows.models import Approval, Step
from tests.support.approvals import cast
from tests.support.flows import document, drive, node, save

pytestmark = pytest.mark.django_db
__all__ = ["cast"]  # the fixture


def client_for(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def mail_run(slug: str) -> Any:
    doc = document(
        slug,
        [node("mail", "tool", tool="send_email", args={"to": "ann@example.com", "body": "Hi"})],
        [],
        subject="ann@example.com",
    )
    run, _ = runs.run_start(flow=save(doc), input={})
    return drive(run)


def test_a_blocked_step_shows_its_verdict_on_the_step(cast: dict[str, Any]) -> None:
    Policy.objects.create(
        slug="no-mail", name="no mail", kind="tool_scope", verdict="block",
        config={"deny": ["send_email"]}, reason="mail is off this week",
    )  # fmt: skip
    run = mail_run("blocked-mail")
    step = Step.objects.get(run=run)
    page = client_for(cast["viewer"]).get(f"/runs/{run.id}/steps/{step.id}/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Policy verdicts" in html
    assert "no-mail" in html
    assert "mail is off this week" in html
    assert 'class="status status-failed">block<' in html


def test_a_policy_approval_card_and_inbox_detail_show_the_verdict(cast: dict[str, Any]) -> None:
    Policy.objects.create(
        slug="review-mail", name="review mail", kind="approval", verdict="require_approval",
        config={"categories": ["outbound_message"]}, reason="every e-mail is reviewed",
    )  # fmt: skip
    run = mail_run("reviewed-mail")
    approval = Approval.objects.get(run=run)
    approver = client_for(cast["approver"])
    run_page = approver.get(f"/runs/{run.id}/").content.decode()
    assert "A policy asked for a person" in run_page
    assert "review-mail" in run_page
    assert 'class="status status-waiting">require approval<' in run_page
    detail = approver.get(f"/approvals/{approval.id}/").content.decode()
    assert "every e-mail is reviewed" in detail
    assert "review-mail" in detail
    assert "Proposed tool call" in detail
