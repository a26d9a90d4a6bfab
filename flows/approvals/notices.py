"""Reminders and escalations: e-mail to the people an approval waits on, and a message to the
Slack-compatible incoming webhook when one is configured (``CONTROLROOM_SLACK_WEBHOOK_URL``).

An outbox: ``notice_create`` writes an ``ApprovalNotice`` in the transaction that decided to
notify and queues ``notice_send`` after commit (by the task ``flows.tasks`` registers with
``notice_queue_register``: the tasks import this module, never the other way); the reconciler
re-sends notices whose task was lost (``notices_resend``). Sending locks the row and marks it
sent, so two deliveries of one task cannot both send; a crash between sending and committing
may send once more.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from flows.approvals.access import recipients
from flows.models import Approval, ApprovalNotice

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
#: A notice still unsent this long after it was written lost its task: send it again.
RESEND_AFTER_SECONDS = 30
WEBHOOK_TIMEOUT_SECONDS = 5.0


class NoticeError(Exception):
    """A channel did not take the notice; it is tried again later."""


#: Hands a recorded notice to a worker (``notice_queue_register``); None: the reconciler's
#: ``notices_resend`` sends it.
_queue_notice: Callable[[int], None] | None = None


def notice_queue_register(queue: Callable[[int], None]) -> None:
    """Register how a notice is queued for sending (``flows.apps``, at start-up). Idempotent."""
    global _queue_notice
    _queue_notice = queue


def notice_create(approval: Approval, kind: str) -> ApprovalNotice:
    """Record a notice to send (inside the caller's transaction) and send it after commit."""
    notice = ApprovalNotice.objects.create(approval=approval, kind=kind)
    transaction.on_commit(lambda: _queue(notice.id))
    return notice


def _queue(notice_id: int) -> None:
    if _queue_notice is None:
        logger.warning("no queue for approval notices; the reconciler sends %s", notice_id)
        return
    try:
        _queue_notice(notice_id)
    except Exception:  # the broker is down: the reconciler sends it later
        logger.warning("could not queue approval notice %s", notice_id, exc_info=True)


def notice_send(*, notice_id: int) -> bool:
    """Send one notice by every configured channel. Idempotent: True when this call sent it.
    Raises ``NoticeError`` (after recording the error) when a channel refused it."""
    with transaction.atomic():
        notice = (
            ApprovalNotice.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("approval__run__flow", "approval__assignee_user")
            .filter(id=notice_id, sent_at__isnull=True)
            .first()
        )
        if notice is None or notice.attempts >= MAX_ATTEMPTS:
            return False
        notice.attempts += 1
        approval = notice.approval
        subject, body = message(approval, notice.kind)
        # A channel that took the notice on an earlier attempt is not sent to again.
        delivered: dict[str, Any] = dict(notice.delivered or {})
        try:
            if "email" not in delivered:
                delivered["email"] = _email(approval, subject, body)
            if not delivered.get("webhook"):
                delivered["webhook"] = _webhook(subject, body)
        except (NoticeError, OSError) as exc:
            # Recorded and committed (the attempt counts); raised once the lock is released.
            notice.error = str(exc)[:2000]
            notice.delivered = delivered
            notice.save(update_fields=["attempts", "error", "delivered"])
        else:
            notice.sent_at = timezone.now()
            notice.delivered = delivered
            notice.error = ""
            notice.save(update_fields=["attempts", "sent_at", "delivered", "error"])
    if notice.sent_at is None:
        raise NoticeError(notice.error)
    return True


def notices_resend() -> int:
    """Send notices whose task was lost (the reconciler's backstop). Returns how many sent."""
    cutoff = timezone.now() - timedelta(seconds=RESEND_AFTER_SECONDS)
    ids = list(
        ApprovalNotice.objects.filter(
            sent_at__isnull=True, created_at__lt=cutoff, attempts__lt=MAX_ATTEMPTS
        )
        .order_by("id")
        .values_list("id", flat=True)[:50]
    )
    sent = 0
    for notice_id in ids:
        try:
            sent += notice_send(notice_id=notice_id)
        except NoticeError:
            logger.warning("approval notice %s failed again", notice_id)
    return sent


def approval_url(approval: Approval) -> str:
    path = reverse("approval_detail", kwargs={"approval_id": approval.id})
    base = str(settings.CONTROLROOM.get("PUBLIC_URL") or "").rstrip("/")
    return f"{base}{path}"


def message(approval: Approval, kind: str) -> tuple[str, str]:
    """The subject and body of a notice (plain text: it is never rendered as HTML)."""
    flow = approval.run.flow.name
    due = approval.deadline_at.strftime("%Y-%m-%d %H:%M UTC") if approval.deadline_at else "none"
    if kind == ApprovalNotice.Kind.ESCALATION:
        who = approval.assignee_user.get_username() if approval.assignee_user else None
        subject = f"Escalated to {who or approval.assignee_role}: {approval.title}"
        lead = "Nobody decided this approval in time, so it now waits on you."
    else:
        subject = f"Reminder: {approval.title} is due {due}"
        lead = "This approval is still waiting for a decision."
    lines = [
        lead,
        "",
        f"Approval: {approval.title}",
        f"Flow: {flow}",
        f"Why: {approval.reason or 'approval node'}",
        f"Deadline: {due}",
        f"Open it: {approval_url(approval)}",
    ]
    return f"[Control room] {subject}"[:200], "\n".join(lines)


def _email(approval: Approval, subject: str, body: str) -> list[str]:
    addresses = sorted({user.email for user in recipients(approval) if user.email})
    if addresses:
        send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, addresses, fail_silently=False)
    return addresses


def _webhook(subject: str, body: str) -> bool:
    url = str(settings.CONTROLROOM.get("SLACK_WEBHOOK_URL") or "")
    if not url:
        return False
    # The URL is the administrator's configuration, not a model's choice: no egress allowlist.
    import httpx  # slow to import; only a process that sends a notice needs it

    try:
        response = httpx.post(
            url, json={"text": f"*{subject}*\n{body}"}, timeout=WEBHOOK_TIMEOUT_SECONDS
        )
    except httpx.HTTPError as exc:
        raise NoticeError(f"webhook: {type(exc).__name__}") from exc
    if response.status_code >= 300:
        raise NoticeError(f"webhook answered {response.status_code}")
    return True
