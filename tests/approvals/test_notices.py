"""Reminders and escalations reach people: by e-mail (Django's mail backend; the locmem outbox
here) and by the Slack-compatible incoming webhook, a real HTTP receiver on loopback."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from django.core import mail
from django.test import override_settings
from django.utils import timezone

from flows.approvals import notices
from flows.engine import reconciler
from flows.models import Approval, ApprovalNotice
from tests.support.approvals import parked, review_flow
from tests.support.loopback_http import LoopbackHTTP, Reply

pytestmark = pytest.mark.django_db

ESCALATING = {"deadline_minutes": 30, "on_deadline": "escalate", "escalate_to": "admin"}


def configured(server: LoopbackHTTP | None, settings: Any) -> dict[str, Any]:
    return {
        **settings.CONTROLROOM,
        "SLACK_WEBHOOK_URL": server.url("/hooks/T000/B000/XXXX") if server else "",
        "PUBLIC_URL": "https://control.example.test",
    }


def escalate(approval: Approval) -> ApprovalNotice:
    Approval.objects.filter(id=approval.id).update(
        deadline_at=timezone.now() - timedelta(seconds=1)
    )
    assert reconciler.fire_due_approvals() == 1
    return ApprovalNotice.objects.get(approval=approval)


def test_an_escalation_is_mailed_to_the_new_assignees_and_posted_to_the_webhook(
    cast: dict[str, Any], settings: Any
) -> None:
    with LoopbackHTTP() as receiver:
        receiver.route("/hooks/T000/B000/XXXX", Reply(status=200, body=b"ok"))
        settings.CONTROLROOM = configured(receiver, settings)
        _, approval = parked(review_flow(**ESCALATING))
        notice = escalate(approval)
        mail.outbox.clear()
        assert notices.notice_send(notice_id=notice.id) is True
        assert notices.notice_send(notice_id=notice.id) is False  # sent once, not twice

        [posted] = receiver.received("/hooks/T000/B000/XXXX")
    assert posted.method == "POST"
    assert posted.headers["content-type"] == "application/json"
    text = json.loads(posted.body)["text"]
    assert "Escalated to admin: Post about pricing" in text
    assert f"https://control.example.test/approvals/{approval.id}/" in text

    [message] = mail.outbox
    assert message.to == ["admin@example.test"]  # the admins now; not the approvers
    assert message.subject == "[Control room] Escalated to admin: Post about pricing"
    assert "Flow: Review Flow" in message.body
    notice.refresh_from_db()
    assert notice.sent_at is not None
    assert notice.delivered == {"email": ["admin@example.test"], "webhook": True}


def test_a_reminder_goes_to_everyone_the_approval_waits_on(
    cast: dict[str, Any], settings: Any
) -> None:
    settings.CONTROLROOM = configured(None, settings)
    _, approval = parked(review_flow(deadline_minutes=60, remind_before_minutes=10))
    Approval.objects.filter(id=approval.id).update(remind_at=timezone.now())
    reconciler.fire_due_approvals()
    notice = ApprovalNotice.objects.get(approval=approval)
    mail.outbox.clear()
    notices.notice_send(notice_id=notice.id)
    [message] = mail.outbox
    assert sorted(message.to) == ["approver2@example.test", "approver@example.test"]
    assert message.subject.startswith("[Control room] Reminder: Post about pricing is due ")
    notice.refresh_from_db()
    assert notice.delivered == {
        "email": ["approver2@example.test", "approver@example.test"],
        "webhook": False,
    }


def test_a_refusing_webhook_is_retried_by_the_reconciler(
    cast: dict[str, Any], settings: Any
) -> None:
    with LoopbackHTTP() as receiver:
        receiver.route("/hooks/T000/B000/XXXX", Reply(status=500), Reply(status=200))
        settings.CONTROLROOM = configured(receiver, settings)
        _, approval = parked(review_flow(**ESCALATING))
        notice = escalate(approval)
        mail.outbox.clear()
        with pytest.raises(notices.NoticeError, match="webhook answered 500"):
            notices.notice_send(notice_id=notice.id)
        notice.refresh_from_db()
        assert notice.sent_at is None and notice.attempts == 1
        assert notice.error == "webhook answered 500"
        assert len(mail.outbox) == 1  # the e-mail went out; only the webhook is tried again

        # The task was lost (or failed): the reconciler's pass sends it once it is old enough.
        ApprovalNotice.objects.filter(id=notice.id).update(
            created_at=timezone.now() - timedelta(minutes=5)
        )
        reconciler.fire_due_approvals()
        assert len(receiver.received("/hooks/T000/B000/XXXX")) == 2
    notice.refresh_from_db()
    assert notice.sent_at is not None and notice.attempts == 2
    assert len(mail.outbox) == 1


@override_settings(EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend")
def test_the_notice_text_is_plain_and_carries_no_markup_interpretation(
    cast: dict[str, Any], settings: Any
) -> None:
    settings.CONTROLROOM = configured(None, settings)
    _, approval = parked(review_flow(**ESCALATING), topic="<b>x</b>")
    subject, body = notices.message(approval, "reminder")
    assert "<b>x</b>" in subject  # text as written: a mail body is text/plain, never HTML
    assert "Content-Type" not in body
