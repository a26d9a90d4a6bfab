"""Review time: how long people actually spent reviewing an approval before it was decided.

**A review minute** is a minute during which an approval's detail was on an eligible
approver's screen, in a visible and focused window, with the person active (pointer, keys or
scroll within the last minute) — measured by the inbox page (``static/js/review.js``), summed
across openings and across people, up to the decision. Opening an item is not reviewing it:
the inbox opens the top item by itself, and a tab left in the background or an idle screen
counts nothing.

Where a decision's review time comes from (``Approval.review_source``):

- ``"inbox"`` — a decision made in the web UI: the sum of the heartbeats credited to the
  approval (``ApprovalReview`` rows, every person), plus the last chunk sent with the decision.
- ``"api"`` — a decision through the API that carried ``review_seconds``: what the client
  reported, bounded by ``REPORTED_MAX_SECONDS``; inbox heartbeats are not added to it.
- ``""`` — not measured: an API decision without ``review_seconds``, or a web decision that
  no heartbeat reached (scripts off). ``review_ms`` is then None, never zero by accident and
  never wall time. Automatic decisions (deadline, earned autonomy) are not reviews.

Crediting is capped so that a client cannot inflate it: a heartbeat of ``active_ms`` adds at
most the wall time since that person's previous heartbeat or opening of the item (whichever is
later), and at most ``HEARTBEAT_MAX_MS``. The windows of one (approval, person) never overlap,
so a resent or duplicated heartbeat adds (almost) nothing, and two tabs cannot count the same
second twice. ``approval_decide`` stores the result once on the approval
(``approval_review_time``); ROI facts and approval rollups read that stored value.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from flows.approvals.access import may_decide
from flows.models import Approval, ApprovalReview
from flows.states import ApprovalStatus

#: The most one heartbeat may credit (the page sends one every ~15 s).
HEARTBEAT_MAX_MS = 10 * 60_000
#: The most review time an API client may report for one decision.
REPORTED_MAX_SECONDS = 24 * 3600

INBOX = "inbox"
API = "api"


class ReviewError(Exception):
    def __init__(self, message: str, *, code: str = "invalid", status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status


def check_active_ms(value: Any) -> int:
    """``value`` as a number of active milliseconds, or ``ReviewError`` (400) saying why."""
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int):
        raise ReviewError("active_ms must be a whole number of milliseconds")
    if not 0 <= value <= HEARTBEAT_MAX_MS:
        raise ReviewError(f"active_ms must be between 0 and {HEARTBEAT_MAX_MS}")
    return value


def approval_review_start(*, approval_id: int, user: Any, now: datetime | None = None) -> None:
    """An eligible approver opened the approval's detail: the next heartbeat may credit time
    from now on (an earlier window that was never reported is given up, which can only
    under-count). Creates that person's ``ApprovalReview`` row on the first opening."""
    now = now or timezone.now()
    ApprovalReview.objects.bulk_create(
        [ApprovalReview(approval_id=approval_id, user=user, first_seen_at=now, last_seen_at=now)],
        update_conflicts=True,
        unique_fields=["approval", "user"],
        update_fields=["last_seen_at"],
    )


def _credit(*, approval_id: int, user: Any, active_ms: int, now: datetime) -> int:
    """Credit ``active_ms`` (capped) to ``user``'s review of the approval; inside a transaction.
    Without a row (no opening seen) the window starts now and nothing is credited yet."""
    review = (
        ApprovalReview.objects.select_for_update()
        .filter(approval_id=approval_id, user=user)
        .first()
    )
    if review is None:
        approval_review_start(approval_id=approval_id, user=user, now=now)
        return 0
    elapsed = max(int((now - review.last_seen_at).total_seconds() * 1000), 0)
    credited = min(active_ms, elapsed, HEARTBEAT_MAX_MS)
    ApprovalReview.objects.filter(id=review.id).update(
        active_ms=review.active_ms + credited,
        heartbeats=review.heartbeats + 1,
        last_seen_at=now,
    )
    return credited


def approval_seen(*, approval_id: int, user: Any, active_ms: Any) -> int:
    """A heartbeat from the inbox page: ``user`` had the pending approval on screen, visible,
    focused and not idle, for ``active_ms`` since their previous heartbeat. Returns the
    milliseconds credited (capped as the module says).

    Refused with ``ReviewError``: 404 no such approval, 403 when the user may not decide it,
    409 once it is decided (review time ends at the decision), 400 for a bad ``active_ms``."""
    active_ms = check_active_ms(active_ms)
    approval = Approval.objects.filter(id=approval_id).first()
    if approval is None:
        raise ReviewError("no such approval", code="not_found", status=404)
    if not may_decide(user, approval):
        raise ReviewError("you may not decide this approval", code="forbidden", status=403)
    if approval.status != ApprovalStatus.PENDING:
        raise ReviewError(f"already {approval.status}", code="conflict", status=409)
    with transaction.atomic():
        return _credit(approval_id=approval_id, user=user, active_ms=active_ms, now=timezone.now())


@dataclass(frozen=True)
class ReviewTime:
    ms: int | None
    source: str  # INBOX | API | ""


def approval_review_time(
    *,
    approval: Approval,
    user: Any,
    channel: str,
    active_ms: int | None = None,
    reported_seconds: float | None = None,
) -> ReviewTime:
    """The review time of a decision being made now by ``user`` (called by ``approval_decide``
    under the run lock, before the approval leaves ``pending``), as the module defines it.

    ``channel`` is ``"inbox"`` (the web UI; ``active_ms`` is the page's last unsent chunk,
    credited like a heartbeat) or ``"api"`` (``reported_seconds`` is the client's own measure,
    0..``REPORTED_MAX_SECONDS``, or None for not measured)."""
    if channel == API:
        if reported_seconds is None:
            return ReviewTime(None, "")
        if not 0 <= reported_seconds <= REPORTED_MAX_SECONDS:
            raise ReviewError(f"review_seconds must be between 0 and {REPORTED_MAX_SECONDS}")
        return ReviewTime(round(reported_seconds * 1000), API)
    if active_ms:
        _credit(
            approval_id=approval.id,
            user=user,
            active_ms=check_active_ms(active_ms),
            now=timezone.now(),
        )
    measured = ApprovalReview.objects.filter(approval_id=approval.id, heartbeats__gt=0).aggregate(
        ms=Sum("active_ms")
    )["ms"]
    return ReviewTime(None, "") if measured is None else ReviewTime(int(measured), INBOX)
