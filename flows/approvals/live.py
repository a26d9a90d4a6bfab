"""The approvals inbox's live subscriptions (see ``controlroom.live`` for the contract;
registered by ``flows.apps`` next to the flows pages' own in ``flows.live``):

- ``inbox`` (group ``inbox``): the count of approvals waiting on the user, in the navigation;
- ``approvals`` (group ``inbox``), query: the inbox filters, ``open``, ``v``: the user's inbox
  list — rows appear in deadline order and disappear when decided or moved away.

Fragments come from the same partials and context builders (``flows.approvals.pages``) as the
inbox page itself. (The run page's approvals panel is part of the ``run.<uuid>`` subscription in
``flows.live``.)
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

from controlroom import live
from flows.approvals import pages as approval_pages
from flows.approvals import selectors as approval_selectors
from flows.approvals.selectors import InboxFilters, inbox_sort_key
from flows.live import Events, event_ids, fragment, int_param, oob_delete, oob_insert

INBOX = "approvals/inbox.html"


class InboxBadge:
    """The navigation badge: what waits on this user, recounted when an approval changes.
    Every approval lands here: paced."""

    group = "inbox"
    min_interval = live.BURST_WINDOW

    def __init__(self, *, user: Any) -> None:
        self.user = user

    def sync(self) -> list[str]:
        return [fragment("base.html#approvals_badge", approval_pages.badge_context(user=self.user))]

    def render(self, events: Events) -> list[str]:
        return self.sync() if event_ids(events, "approval.changed", "approval_id") else []


def open_inbox(argument: str, user: Any, params: Mapping[str, str]) -> InboxBadge | None:
    return None if argument else InboxBadge(user=user)


def rows_version(approval_ids: Sequence[int]) -> str:
    """A short fingerprint of the rows a page shows, so a socket opening right after the page
    rendered can tell whether the list changed in between."""
    return hashlib.sha256(",".join(map(str, approval_ids)).encode()).hexdigest()[:12]


class InboxPage:
    """The inbox list of one user with the page's filters: a new approval the user may see is
    inserted at its place in the deadline order, one decided (or moved away from the user) is
    removed, a changed one is redrawn. The detail pane refreshes itself when its row changes
    (``static/js/inbox.js``). Every approval lands here: paced."""

    group = "inbox"
    min_interval = live.BURST_WINDOW

    def __init__(self, *, user: Any, filters: InboxFilters, open_id: int | None, version: str):
        self.user = user
        self.filters = filters
        self.open_id = open_id
        self.version = version
        self.rows: dict[int, tuple[Any, ...]] = {}

    def _all(self) -> list[str]:
        context = approval_pages.inbox_rows_context(
            user=self.user, filters=self.filters, open_id=self.open_id
        )
        self.rows = {row.approval.id: inbox_sort_key(row.approval) for row in context["rows"]}
        return [fragment(f"{INBOX}#inbox_rows", context)]

    def sync(self) -> list[str]:
        parts = self._all()
        if rows_version(list(self.rows)) == self.version:
            return []  # the page already shows exactly these rows
        return parts

    def render(self, events: Events) -> list[str]:
        parts: list[str] = []
        for approval_id in event_ids(events, "approval.changed", "approval_id"):
            approval = approval_selectors.approval_get(approval_id=approval_id)
            visible = (
                approval is not None
                and approval.status == "pending"
                and approval_selectors.inbox_matches(approval, user=self.user, filters=self.filters)
            )
            if approval_id in self.rows:
                key = self.rows.pop(approval_id)
                if not visible:
                    parts.append(oob_delete(f"inbox-row-{approval_id}", tag="li"))
                    continue
                assert approval is not None
                if inbox_sort_key(approval) == key:
                    self.rows[approval_id] = key
                    context = approval_pages.inbox_row_context(
                        approval, user=self.user, filters=self.filters
                    )
                    parts.append(fragment(f"{INBOX}#inbox_row", context))
                    continue
                parts.append(oob_delete(f"inbox-row-{approval_id}", tag="li"))
            if visible:
                assert approval is not None
                if not self.rows:
                    return self._all()  # replaces the empty-inbox line
                parts.append(self._insert(approval))
        if not self.rows and parts:
            return self._all()  # the last row went: show the empty-inbox line
        return parts

    def _insert(self, approval: Any) -> str:
        key = inbox_sort_key(approval)
        later = [(other, row_id) for row_id, other in self.rows.items() if other > key]
        self.rows[approval.id] = key
        context = approval_pages.inbox_row_context(approval, user=self.user, filters=self.filters)
        row = fragment(f"{INBOX}#inbox_row", context, oob=False)
        if later:
            return oob_insert(f"#inbox-row-{min(later)[1]}", row, wrapper="ul", where="beforebegin")
        return oob_insert("#inbox-rows", row, wrapper="ul")


def open_approvals(argument: str, user: Any, params: Mapping[str, str]) -> InboxPage | None:
    if argument:
        return None
    return InboxPage(
        user=user,
        filters=InboxFilters.parse(params, user=user),
        open_id=int_param(params.get("open")),
        version=str(params.get("v") or ""),
    )


def register_topics() -> None:
    live.register("inbox", open_inbox)
    live.register("approvals", open_approvals)
