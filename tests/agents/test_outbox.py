"""agents/outbox.py: every outbox row is delivered exactly once, whatever happened to the broker
message that asked for it; a mail server's refusals back off and end in a visible failure."""

from __future__ import annotations

import smtplib
from datetime import timedelta
from typing import Any

import pytest
from django.core import mail
from django.core.mail.backends.base import BaseEmailBackend
from django.utils import timezone
from pytest_django.fixtures import Settings

from agents import outbox, tools
from agents.models import Effect, OutboxMessage

pytestmark = pytest.mark.django_db


class RefusingBackend(BaseEmailBackend):
    """A mail server that refuses every message, as an SMTP server that is down would."""

    def send_messages(self, email_messages: Any) -> int:
        raise smtplib.SMTPServerDisconnected("connection unexpectedly closed")


def queued(key: str = "run-1:notify:") -> OutboxMessage:
    effect = Effect.objects.create(
        key=key, tool="send_email", category="outbound_message", subject="ada@example.com"
    )
    return outbox.outbox_enqueue(effect=effect, to="ada@example.com", subject="Hi", body="Hello")


def overdue(message: OutboxMessage) -> None:
    OutboxMessage.objects.filter(id=message.id).update(
        next_attempt_at=timezone.now() - timedelta(seconds=1)
    )


def test_a_queued_message_is_due_for_a_redrive_only_after_the_grace(settings: Settings) -> None:
    settings.CONTROLROOM = {**settings.CONTROLROOM, "OUTBOX_REDRIVE_AFTER_SECONDS": 30}
    message = queued()
    assert message.status == "pending"
    assert message.next_attempt_at is not None
    assert message.next_attempt_at > timezone.now() + timedelta(seconds=25)
    assert outbox.outbox_redrive() == 0  # its first publish still has time


def test_a_message_whose_publish_was_lost_is_redriven_and_sent_exactly_once(
    django_capture_on_commit_callbacks: Any, settings: Settings
) -> None:
    message = queued()
    overdue(message)  # its broker message was lost: nothing delivered it in time
    with django_capture_on_commit_callbacks() as published:
        assert outbox.outbox_redrive() == 1
    assert len(published) == 1
    message.refresh_from_db()
    assert message.next_attempt_at is not None and message.next_attempt_at > timezone.now()
    assert outbox.outbox_redrive() == 0  # pushed out: not flooded with duplicates

    assert outbox.outbox_deliver(message_id=message.id) is True
    assert outbox.outbox_deliver(message_id=message.id) is False  # a duplicate delivery
    message.refresh_from_db()
    assert (message.status, message.attempts, message.next_attempt_at) == ("sent", 1, None)
    overdue(message)
    assert outbox.outbox_redrive() == 0  # sent rows are never re-driven
    assert len(mail.outbox) == 1
    assert mail.outbox[0].extra_headers["Message-ID"] == "<run-1.notify.@controlroom>"


def test_a_refused_message_backs_off_then_fails_for_good_with_the_reason(
    settings: Settings,
) -> None:
    settings.EMAIL_BACKEND = f"{__name__}.RefusingBackend"
    settings.CONTROLROOM = {**settings.CONTROLROOM, "OUTBOX_MAX_ATTEMPTS": 3}
    message = queued()
    for attempt in (1, 2):
        before = timezone.now()
        assert outbox.outbox_deliver(message_id=message.id) is False
        message.refresh_from_db()
        assert (message.status, message.attempts) == ("pending", attempt)
        assert "connection unexpectedly closed" in message.error
        assert message.next_attempt_at is not None and message.next_attempt_at > before
        overdue(message)
    assert outbox.outbox_deliver(message_id=message.id) is False
    message.refresh_from_db()
    assert message.status == "failed"
    assert message.error == "gave up after 3 attempts: connection unexpectedly closed"
    assert message.next_attempt_at is None
    assert outbox.outbox_redrive() == 0


def test_send_email_keeps_the_message_with_its_redrive_time() -> None:
    result = tools.tool_call(
        name="send_email",
        args={"to": "ada@example.com", "subject": "Hi", "body": "Hello"},
        idempotency_key="run-2:mail:",
        subject="ada@example.com",
    )
    message = OutboxMessage.objects.get(id=result["message_id"])
    assert message.effect.key == "run-2:mail:"
    assert message.status == "pending" and message.next_attempt_at is not None
