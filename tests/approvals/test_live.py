"""The inbox's live subscriptions (``flows.approvals.live``): each user's list gains the
approvals they may decide in deadline order and loses the ones decided or moved away; the badge
counts what waits on the user."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from flows.approvals.decisions import Decision, approval_decide, approval_reassign
from flows.approvals.live import InboxBadge, InboxPage, open_approvals, rows_version
from flows.approvals.selectors import InboxFilters
from flows.models import Approval
from tests.support.approvals import cast, parked, review_flow, shown

pytestmark = pytest.mark.django_db
__all__ = ["cast"]  # the fixture


def changed(*approvals: Approval) -> list[dict[str, Any]]:
    return [
        {"type": "approval.changed", "data": {"approval_id": a.id, "status": a.status}}
        for a in approvals
    ]


def page_for(user: Any, **params: str) -> InboxPage:
    subscription = open_approvals("", user, params)
    assert subscription is not None
    subscription.sync()
    return subscription


def test_a_socket_opening_on_an_unchanged_list_sends_nothing(cast: dict[str, Any]) -> None:
    _, approval = parked(review_flow())
    version = rows_version([approval.id])
    subscription = InboxPage(
        user=cast["approver"], filters=InboxFilters(), open_id=None, version=version
    )
    assert subscription.sync() == []
    stale = InboxPage(user=cast["approver"], filters=InboxFilters(), open_id=None, version="x")
    [fragment] = stale.sync()
    assert 'id="inbox-rows"' in fragment and 'hx-swap-oob="true"' in fragment


def test_new_approvals_are_inserted_in_deadline_order(cast: dict[str, Any]) -> None:
    doc = review_flow()
    _, later = parked(doc, "later")
    Approval.objects.filter(id=later.id).update(deadline_at=timezone.now() + timedelta(hours=3))
    subscription = page_for(cast["approver"])
    _, sooner = parked(doc, "sooner")
    Approval.objects.filter(id=sooner.id).update(deadline_at=timezone.now() + timedelta(hours=1))
    [fragment] = subscription.render(changed(sooner))
    assert f'hx-swap-oob="beforebegin:#inbox-row-{later.id}"' in fragment
    assert f'id="inbox-row-{sooner.id}"' in fragment
    _, undated = parked(doc, "undated")
    [fragment] = subscription.render(changed(undated))
    assert 'hx-swap-oob="beforeend:#inbox-rows"' in fragment


def test_a_decided_approval_leaves_every_inbox(cast: dict[str, Any]) -> None:
    doc = review_flow()
    _, first = parked(doc, "first")
    _, second = parked(doc, "second")
    mine, theirs = page_for(cast["approver"]), page_for(cast["approver2"])
    approval_decide(
        approval_id=first.id,
        user=cast["approver2"],
        decision=Decision("approve", shown_hash=shown(first.id)),
    )
    first.refresh_from_db()
    for subscription in (mine, theirs):
        assert subscription.render(changed(first)) == [
            f'<li id="inbox-row-{first.id}" hx-swap-oob="delete"></li>'
        ]
    approval_decide(
        approval_id=second.id,
        user=cast["approver"],
        decision=Decision("approve", shown_hash=shown(second.id)),
    )
    second.refresh_from_db()
    [fragment] = mine.render(changed(second))  # the last one: the empty-inbox line comes back
    assert "Nothing is waiting for you" in fragment


def test_reassigning_moves_the_row_between_inboxes(cast: dict[str, Any]) -> None:
    doc = review_flow()
    _, keep = parked(doc, "keep")
    _, move = parked(doc, "move")
    mine, theirs, admin = (page_for(cast[who]) for who in ("approver", "approver2", "admin"))
    approval_reassign(approval_id=move.id, user=cast["approver"], to_user="approver2")
    move.refresh_from_db()
    assert mine.render(changed(move)) == [
        f'<li id="inbox-row-{move.id}" hx-swap-oob="delete"></li>'
    ]
    [redrawn] = theirs.render(changed(move))
    assert f'id="inbox-row-{move.id}" class="inbox-row" data-inbox-row' in redrawn
    [admin_row] = admin.render(changed(move))  # admins may decide anything: still listed
    assert "for approver2" in admin_row
    assert keep.id in mine.rows


def test_all_pending_shows_what_others_decide_read_only(cast: dict[str, Any]) -> None:
    _, approval = parked(review_flow())
    viewer = page_for(cast["viewer"])
    assert list(viewer.rows) == [approval.id]  # a viewer's inbox is everything pending
    assert viewer.filters.scope == "all"


def test_the_badge_counts_what_waits_on_each_user(cast: dict[str, Any]) -> None:
    _, approval = parked(review_flow())
    approval_reassign(approval_id=approval.id, user=cast["approver"], to_user="approver2")
    counts = {}
    for who in ("approver", "approver2", "viewer"):
        [badge] = InboxBadge(user=cast[who]).sync()
        match = re.search(r'class="count-badge[^"]*"[^>]*>(\d*)', badge)
        assert match is not None
        counts[who] = match.group(1)
    assert counts == {"approver": "", "approver2": "1", "viewer": "1"}
