"""Issue 14, finding 7: ``send_email`` takes exactly one recipient, parsed by the standard
library. A list (``"a@x, b@evil"``) or a header break (``"\\r\\nBcc:"``) is refused at argument
validation — before a policy can park the call for approval — and a row that reached the outbox
anyway fails for good with the reason instead of going to several people or staying pending.
Deliveries are counted at a real SMTP server on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from pytest_django.fixtures import Settings

from agents import outbox, tools
from agents.models import Effect, OutboxMessage, Policy
from flows.approvals.decisions import ApprovalError, Decision, approval_decide
from flows.engine import runs
from flows.models import Approval, Step
from tests.support.approvals import cast
from tests.support.flows import document, drive, node, save
from tests.support.smtp import SmtpSink

pytestmark = pytest.mark.django_db
__all__ = ["cast"]  # the fixture

BAD = {
    "list": "ada@example.com, eve@evil.example",
    "semicolon": "ada@example.com; eve@evil.example",
    "named_list": "Ada <ada@example.com>, eve@evil.example",
    "crlf_bcc": "ada@example.com\r\nBcc: eve@evil.example",
    "lf_bcc": "ada@example.com\nBcc: eve@evil.example",
    "group": "friends: ada@example.com, eve@evil.example;",
    "no_domain": "ada@",
    "no_local": "@example.com",
    "two_ats": "ada@eve@example.com",
    "spaces": "ada lovelace@example.com",
}


@pytest.fixture
def smtp(settings: Settings) -> Iterator[SmtpSink]:
    with SmtpSink() as sink:
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", sink.port
        settings.EMAIL_HOST_USER, settings.EMAIL_HOST_PASSWORD = "", ""
        settings.EMAIL_USE_TLS, settings.EMAIL_USE_SSL = False, False
        yield sink


def _send(to: str, key: str = "run-1:notify:") -> Any:
    return tools.tool_call(
        name="send_email",
        args={"to": to, "subject": "Hi", "body": "Hello"},
        idempotency_key=key,
        subject="ada@example.com",
    )


@pytest.mark.parametrize("to", list(BAD.values()), ids=list(BAD))
def test_send_email_refuses_anything_but_one_address(to: str) -> None:
    with pytest.raises(tools.ToolError) as refused:
        _send(to)
    assert "argument to" in str(refused.value)
    assert not Effect.objects.exists() and not OutboxMessage.objects.exists()


@pytest.mark.parametrize("to", ["ada@example.com", "ada.lovelace+crm@mail.example.co.uk"])
def test_one_plain_address_is_queued(to: str) -> None:
    result = _send(to)
    assert result["status"] == "queued" and result["to"] == to


def _gated_flow() -> dict[str, Any]:
    Policy.objects.create(
        slug="mail-needs-a-look",
        name="mail needs a look",
        kind="approval",
        verdict="require_approval",
        config={"categories": ["outbound_message"]},
    )
    return document(
        "mailer",
        [node("mail", "tool", tool="send_email", args={"to": "{{ input.to }}", "body": "Hi"})],
        [],
        subject="{{ input.to }}",
    )


def test_a_bad_recipient_fails_the_step_before_any_approval_is_created(
    cast: dict[str, Any],
) -> None:
    run, _ = runs.run_start(flow=save(_gated_flow()), input={"to": BAD["crlf_bcc"]})
    run = drive(run)
    assert run.status == "failed"
    step = Step.objects.get(run=run, node_id="mail")
    assert step.status == "failed" and step.attempt == 1  # a domain error: not retried
    assert "argument to" in step.error
    assert not Approval.objects.exists() and not OutboxMessage.objects.exists()


def test_a_good_recipient_still_waits_for_its_approval(cast: dict[str, Any]) -> None:
    run, _ = runs.run_start(flow=save(_gated_flow()), input={"to": "ada@example.com"})
    assert drive(run).status == "waiting_approval"


@pytest.mark.parametrize("to", [BAD["list"], BAD["crlf_bcc"]], ids=["list", "crlf_bcc"])
def test_an_outbox_row_with_a_bad_recipient_fails_for_good_and_sends_nothing(
    smtp: SmtpSink, to: str
) -> None:
    effect = Effect.objects.create(
        key="run-1:mail:", tool="send_email", category="outbound_message", subject="s"
    )
    # A row written before addresses were checked (or by a caller that skipped the check).
    message = OutboxMessage.objects.create(effect=effect, channel="email", to=to, body="Hi")
    assert outbox.outbox_deliver(message_id=message.id) is False
    message.refresh_from_db()
    assert message.status == "failed" and message.next_attempt_at is None
    assert "recipient" in message.error
    assert smtp.received() == []
    assert outbox.outbox_redrive() == 0


def test_outbox_enqueue_refuses_a_bad_recipient() -> None:
    effect = Effect.objects.create(
        key="run-1:mail:", tool="send_email", category="outbound_message", subject="s"
    )
    with pytest.raises(outbox.AddressError):
        outbox.outbox_enqueue(effect=effect, to=BAD["list"], subject="Hi", body="Hello")
    assert not OutboxMessage.objects.exists()


def test_one_good_recipient_is_delivered_once(smtp: SmtpSink) -> None:
    result = _send("ada@example.com")
    assert outbox.outbox_deliver(message_id=result["message_id"]) is True
    assert smtp.per_recipient() == {"ada@example.com": 1}


def test_an_approver_cannot_edit_the_recipient_into_a_list(cast: dict[str, Any]) -> None:
    doc = document(
        "mail-review",
        [
            node(
                "review",
                "approval",
                title="Send it?",
                tool="send_email",
                arguments={"to": "{{ input.to }}", "body": "Hello"},
            ),
            node("done", "end", output="{{ steps.review.output.output }}"),
        ],
        [("review", "done")],
    )
    run = drive(runs.run_start(flow=save(doc), input={"to": "ada@example.com"})[0])
    approval = Approval.objects.get(run=run)
    edited = {"tool": "send_email", "arguments": {"to": BAD["list"], "body": "Hello"}}
    with pytest.raises(ApprovalError, match="exactly one recipient") as refused:
        approval_decide(
            approval_id=approval.id,
            user=cast["approver"],
            decision=Decision("approve", output=edited, shown_hash=approval.shown_hash),
        )
    assert refused.value.status == 422
    assert Approval.objects.get(id=approval.id).status == "pending"
