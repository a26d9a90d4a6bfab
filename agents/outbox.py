"""Delivering outbox messages through Django's e-mail backend, exactly once per row.

The row in PostgreSQL is the durable copy of every message; the Celery message that asks a
worker to deliver it is only the fast path. A row still pending at its ``next_attempt_at`` is
published again by ``outbox_redrive`` (from the beat, on the control queue), so a message lost
by the broker (a Redis restart, an outage at publish time, a worker killed before it acked)
is delivered anyway. Delivery is idempotent per row: it happens under the row's lock and marks
the row sent in the same transaction, and every send carries the row's own Message-ID, so the
one case that can send twice (a crash after the mail server took it and before the commit)
reaches the receiver as a duplicate it can drop.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Iterable
from datetime import timedelta
from email import errors as email_errors
from email.headerregistry import Address
from email.utils import getaddresses

from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from agents.models import Effect, OutboxMessage
from controlroom.celery import app
from controlroom.mail import mail_transport

logger = logging.getLogger(__name__)

REDRIVE_BATCH = 500
DELIVER_TASK = "agents.outbox_deliver"


class AddressError(ValueError):
    """A recipient that is not exactly one plain e-mail address: a domain error (never
    retried; the message cannot be delivered as written)."""


def recipient_parse(*, to: str) -> str:
    """The one plain e-mail address (``local@domain``) that ``to`` is, parsed with the
    standard library (``email.utils.getaddresses`` counts the recipients,
    ``email.headerregistry.Address`` checks the addr-spec). Refused, with ``AddressError``
    saying why: an empty value; any control character (a CR or LF would start another header,
    such as ``Bcc:``); more than one recipient (``"a@x, b@y"``, ``"a@x; b@y"``, a group);
    a display name (``"Ada <a@x>"``: give the address alone); anything that is not an
    addr-spec with both a local part and a domain."""
    if not isinstance(to, str) or not to.strip():
        raise AddressError("the recipient is empty")
    if any(ord(char) < 32 or ord(char) == 127 for char in to):
        raise AddressError("the recipient contains a line break or another control character")
    text = to.strip()
    found = [address for _, address in getaddresses([text]) if address]
    if len(found) > 1:
        raise AddressError(f"exactly one recipient per message, not {len(found)}: {text!r}")
    try:
        address = Address(addr_spec=text)
    except (ValueError, IndexError, email_errors.HeaderParseError):
        raise AddressError(f"{text!r} is not one plain e-mail address (local@domain)") from None
    if not address.username or not address.domain or address.addr_spec != text:
        raise AddressError(f"{text!r} is not one plain e-mail address (local@domain)")
    return address.addr_spec


def _redrive_after() -> timedelta:
    return timedelta(seconds=float(settings.CONTROLROOM["OUTBOX_REDRIVE_AFTER_SECONDS"]))


def outbox_enqueue(
    *,
    effect: Effect,
    to: str,
    subject: str,
    body: str,
    run_id: str | None = None,
    step_id: int | None = None,
) -> OutboxMessage:
    """Keep an e-mail to one recipient in the outbox and publish its delivery after the
    caller's commit. ``run_id``/``step_id`` name the run and step that sent it (the outbox
    page links to them); ``None`` when the caller has no run.

    Precondition: inside the transaction that records ``effect``. ``to`` must be one plain
    address (``recipient_parse``): anything else raises ``AddressError`` and stores nothing,
    so the outbox never holds a row that cannot be delivered as written. A failed publish (the
    broker down) is logged, not raised: the row is re-driven at its ``next_attempt_at``.
    """
    message = OutboxMessage.objects.create(
        effect=effect,
        channel="email",
        to=recipient_parse(to=to),
        subject=subject,
        body=body,
        next_attempt_at=timezone.now() + _redrive_after(),
        run_id=run_id or None,
        step_id=step_id,
    )
    transaction.on_commit(lambda: _publish([message.id]), robust=True)
    return message


def _publish(message_ids: Iterable[int]) -> None:
    # By name: agents.tasks imports this module.
    for message_id in message_ids:
        app.send_task(DELIVER_TASK, args=[message_id])


def outbox_deliver(*, message_id: int) -> bool:
    """Send one pending message; True if this call sent it. Idempotent: a sent or failed
    message is never sent again, and a concurrent delivery of the same row waits on its lock
    and then finds it sent.

    A refusal by the mail server is retried as data, not by a Celery countdown: the row's
    ``next_attempt_at`` moves out with exponential backoff and the re-drive publishes it again;
    after ``OUTBOX_MAX_ATTEMPTS`` refusals the row is failed for good with the last reason.
    A row whose recipient is not one plain address (``recipient_parse``; a row written before
    addresses were checked) is failed for good at once with the reason: nothing is sent, and
    it is never left pending to be re-driven forever.

    The row records the ``transport`` that took it (``controlroom.mail.mail_transport``:
    ``smtp://host:port``, or ``console`` when it was only printed), so the outbox shows what
    really happened rather than "sent" for a message that never left the machine.
    """
    with transaction.atomic():
        message = (
            OutboxMessage.objects.select_for_update(of=("self",))
            .select_related("effect")
            .filter(id=message_id, status=OutboxMessage.Status.PENDING)
            .first()
        )
        if message is None:
            return False
        message.attempts += 1
        connection = get_connection(fail_silently=False)
        message.transport = mail_transport(connection=connection)
        try:
            email = EmailMessage(
                subject=message.subject,
                body=message.body,
                from_email=settings.DEFAULT_FROM_EMAIL,
                to=[recipient_parse(to=message.to)],
                headers={"Message-ID": message_id_header(message)},
                connection=connection,
            )
            email.send(fail_silently=False)
        except OSError as exc:
            _refused(message, str(exc))
            return False
        except ValueError as exc:  # AddressError, BadHeaderError: it can never be sent as is
            _undeliverable(message, str(exc))
            return False
        message.status = OutboxMessage.Status.SENT
        message.sent_at = timezone.now()
        message.next_attempt_at = None
        message.error = ""
        message.save(
            update_fields=["attempts", "status", "sent_at", "error", "next_attempt_at", "transport"]
        )
        return True


def message_id_header(message: OutboxMessage) -> str:
    """The Message-ID every delivery of ``message`` carries: one per row, stable across
    re-drives, so a receiver can drop a duplicate."""
    return f"<{message.effect.key.replace(':', '.')}@controlroom>"


def _undeliverable(message: OutboxMessage, reason: str) -> None:
    message.status = OutboxMessage.Status.FAILED
    message.error = f"undeliverable recipient: {reason}"
    message.next_attempt_at = None
    logger.warning("outbox message %s failed for good: %s", message.id, message.error)
    message.save(update_fields=["attempts", "status", "error", "next_attempt_at", "transport"])


def _refused(message: OutboxMessage, reason: str) -> None:
    message.error = reason
    if message.attempts >= int(settings.CONTROLROOM["OUTBOX_MAX_ATTEMPTS"]):
        message.status = OutboxMessage.Status.FAILED
        message.error = f"gave up after {message.attempts} attempts: {reason}"
        message.next_attempt_at = None
        logger.warning("outbox message %s failed for good: %s", message.id, reason)
    else:
        delay = min(600.0, 5.0 * 2 ** (message.attempts - 1))
        message.next_attempt_at = timezone.now() + timedelta(
            seconds=random.uniform(delay / 2, delay)
        )
        logger.info(
            "outbox message %s refused (attempt %s): %s", message.id, message.attempts, reason
        )
    message.save(update_fields=["attempts", "status", "error", "next_attempt_at", "transport"])


def outbox_redrive(*, limit: int = REDRIVE_BATCH) -> int:
    """Publish again every pending message whose ``next_attempt_at`` has passed; return how
    many. Each is pushed ``OUTBOX_REDRIVE_AFTER_SECONDS`` out first, so a slow delivery is not
    flooded with duplicates (a duplicate is harmless anyway: delivery is idempotent per row).
    Rows being delivered right now are locked and skipped. Safe to run twice at once."""
    now = timezone.now()
    with transaction.atomic():
        ids = list(
            OutboxMessage.objects.select_for_update(skip_locked=True)
            .filter(status=OutboxMessage.Status.PENDING)
            .filter(Q(next_attempt_at__lte=now) | Q(next_attempt_at__isnull=True))
            .order_by("next_attempt_at")
            .values_list("id", flat=True)[:limit]
        )
        if ids:
            OutboxMessage.objects.filter(id__in=ids).update(next_attempt_at=now + _redrive_after())
            transaction.on_commit(lambda: _publish(ids), robust=True)
    if ids:
        logger.info("outbox re-drive: %s message(s) published again", len(ids))
    return len(ids)
