"""Delivering outbox messages through Django's e-mail backend."""

from __future__ import annotations

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import transaction
from django.utils import timezone

from agents.models import OutboxMessage


class DeliveryError(Exception):
    """The mail server did not take the message; delivery is retried."""


def outbox_deliver(*, message_id: int) -> bool:
    """Send one pending message. Idempotent: a sent message is never sent again.

    The row is locked while sending, so two deliveries of the same task cannot both send; a
    crash after the SMTP hand-off and before the commit can resend once, with the same
    Message-ID so the receiver can tell.
    """
    with transaction.atomic():
        message = (
            OutboxMessage.objects.select_for_update()
            .filter(id=message_id, status=OutboxMessage.Status.PENDING)
            .first()
        )
        if message is None:
            return False
        message.attempts += 1
        email = EmailMessage(
            subject=message.subject,
            body=message.body,
            from_email=settings.DEFAULT_FROM_EMAIL,
            to=[message.to],
            headers={"Message-ID": f"<{message.effect.key.replace(':', '.')}@controlroom>"},
        )
        try:
            email.send(fail_silently=False)
        except OSError as exc:
            message.error = str(exc)
            message.save(update_fields=["attempts", "error"])
            raise DeliveryError(str(exc)) from exc
        message.status = OutboxMessage.Status.SENT
        message.sent_at = timezone.now()
        message.save(update_fields=["attempts", "status", "sent_at", "error"])
        return True
