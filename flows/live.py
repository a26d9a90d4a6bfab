"""The flows pages' live subscriptions: what each page is sent when runs, steps and approvals
change (see ``controlroom.live`` for the contract).

Each subscription renders out-of-band fragments from the same partials and context builders
(``flows.pages``) as the page itself, and remembers which rows the page holds so that a changed
row is replaced in place and a new one is inserted once.

Keys, their bus group, and what they update:

- ``run.<uuid>`` (group ``run.<uuid>``, query ``rev``): the run page — header, graph node
  states, the step timeline, the approvals panel;
- ``runs`` (group ``runs``) and ``flow.<id>`` (group ``flow.<id>``), query ``status``,
  ``cursor``, ``limit``: a list of runs — rows change status in place, new runs appear on top of
  the first page;
- ``inbox`` (group ``inbox``): the count of approvals waiting on the user, in the navigation;
- ``approvals`` (group ``inbox``), query: the inbox filters, ``open``, ``v``: the user's inbox
  list — rows appear in deadline order and disappear when decided or moved away;
- ``flows`` (group ``home``): the flows list's per-flow run count and latest status;
- ``home`` (group ``home``): the control-room home — counters, worker and queue health, the
  stuck-run alarm (its live feed of runs is a ``runs`` subscription).
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from django.template.loader import render_to_string

from controlroom import live
from controlroom.pagination import BadCursor, page
from flows import home, inbox, pages, selectors
from flows.approvals import selectors as approval_selectors
from flows.approvals.selectors import InboxFilters, inbox_sort_key
from flows.models import Flow, Run
from flows.states import ErrorClass, RunStatus

Events = Sequence[Mapping[str, Any]]

RUN_DETAIL = "flows/run_detail.html"
RUN_LIST = "flows/run_table.html"
INBOX = "flows/inbox.html"
FLOW_LIST = "flows/flow_list.html"
HOME = "flows/home.html"


def _render(template: str, context: dict[str, Any], *, oob: bool = True) -> str:
    return render_to_string(template, {**context, "oob": oob})


def _ids(events: Events, kind: str, name: str) -> list[Any]:
    """The distinct ``data[name]`` of the events of type ``kind``, first seen first."""
    found = (e.get("data", {}).get(name) for e in events if e.get("type") == kind)
    return list(dict.fromkeys(value for value in found if value is not None))


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except ValueError:
        return None


def _insert(selector: str, html: str, *, wrapper: str = "div", where: str = "beforeend") -> str:
    """Insert ``html`` into ``selector`` (the wrapper itself is dropped by htmx)."""
    return f'<{wrapper} hx-swap-oob="{where}:{selector}">{html}</{wrapper}>'


def _delete(element_id: str, *, tag: str = "div") -> str:
    return f'<{tag} id="{element_id}" hx-swap-oob="delete"></{tag}>'


# --- the run page -----------------------------------------------------------------------------


class RunPage:
    """One run: not paced, each change is rendered as soon as its event arrives."""

    def __init__(self, run: Run, *, user: Any, rev: int | None) -> None:
        self.run_id = run.id
        self.group = f"run.{run.id}"
        self.user = user
        self.rev = rev
        self.known_steps: set[int] = set()

    def sync(self) -> list[str]:
        run = selectors.run_get(run_id=self.run_id)
        if run is None:
            return []
        if self.rev is not None and selectors.run_rev(run_id=run.id) == self.rev:
            # Nothing happened since the page read the run: it holds every step there is.
            self.known_steps = set(selectors.run_step_ids(run_id=run.id))
            return []
        timeline = pages.timeline_context(run)
        self.known_steps = {row.step.id for row in timeline["step_rows"]}
        return [
            _render(f"{RUN_DETAIL}#run_header", pages.run_header_context(run, user=self.user)),
            _render(f"{RUN_DETAIL}#graph", pages.run_graph_context(run)),
            _render(f"{RUN_DETAIL}#timeline_rows", timeline),
            _render(f"{RUN_DETAIL}#approvals", inbox.run_approvals_context(run, user=self.user)),
        ]

    def render(self, events: Events) -> Iterator[str]:
        """The changed steps' rows first (the change itself), then the graph's node states,
        the header and the approvals panel: each goes out as soon as it is rendered."""
        run = selectors.run_get(run_id=self.run_id)
        if run is None:
            return
        step_ids = sorted(_ids(events, "step.changed", "step_id"))
        for step in selectors.step_list(step_ids=step_ids):
            # The row's summary only: its input, output and tool calls load when it is opened.
            context = {"row": pages.step_row(step, run=run)}
            if step.id in self.known_steps:
                yield _render(f"{RUN_DETAIL}#step_row", context)
            else:
                self.known_steps.add(step.id)
                row = _render(f"{RUN_DETAIL}#step_row", context, oob=False)
                yield _insert("#timeline-rows", row)
        if step_ids:
            yield _render(f"{RUN_DETAIL}#graph", pages.run_graph_context(run))
        # Tokens and cost move with every step, the status with run events: always resend it.
        yield _render(f"{RUN_DETAIL}#run_header", pages.run_header_context(run, user=self.user))
        if _ids(events, "approval.changed", "approval_id"):
            yield _render(
                f"{RUN_DETAIL}#approvals", inbox.run_approvals_context(run, user=self.user)
            )


def open_run(argument: str, user: Any, params: Mapping[str, str]) -> RunPage | None:
    try:
        run_id = uuid.UUID(argument)
    except ValueError:
        return None
    run = selectors.run_get(run_id=run_id)
    if run is None:
        return None
    return RunPage(run, user=user, rev=_int(params.get("rev")))


# --- lists of runs ----------------------------------------------------------------------------


class RunList:
    """The runs list (all flows, or one flow's), first page or an older one. Every run of its
    flows lands here: paced."""

    min_interval = live.BURST_WINDOW

    def __init__(
        self,
        *,
        group: str,
        user: Any,
        flow: Flow | None,
        status: str,
        cursor: str,
        limit: int,
        error_class: str = "",
    ) -> None:
        self.group = group
        self.user = user
        self.flow = flow
        self.status = status
        self.error_class = error_class
        self.cursor = cursor
        self.limit = limit
        self.known: list[uuid.UUID] = []

    def _context(self, runs: list[Run]) -> dict[str, Any]:
        return {"runs": runs, "show_flow": self.flow is None or self.group == "runs"}

    def sync(self) -> list[str]:
        try:
            runs, _ = page(
                selectors.run_list(
                    flow=self.flow,
                    status=self.status or None,
                    error_class=self.error_class or None,
                ),
                cursor=self.cursor or None,
                limit=self.limit,
            )
        except BadCursor:
            return []
        self.known = [run.id for run in runs]
        return [_render(f"{RUN_LIST}#run_rows", self._context(runs))]

    def _matches(self, run: Run) -> bool:
        return (
            (self.flow is None or run.flow_id == self.flow.id)
            and (not self.status or run.status == self.status)
            and (not self.error_class or run.error_class == self.error_class)
        )

    def render(self, events: Events) -> list[str]:
        parts: list[str] = []
        for run_id in _ids(events, "run.changed", "run_id"):
            run = selectors.run_get(run_id=run_id)
            if run is None:
                continue
            context = {**self._context([run]), "run": run}
            if run.id in self.known:
                parts.append(_render(f"{RUN_LIST}#run_row", context))
            elif not self.cursor and self._matches(run):
                if not self.known:
                    parts += self.sync()  # replaces the empty-list row
                    continue
                self.known.insert(0, run.id)
                row = _render(f"{RUN_LIST}#run_row", context, oob=False)
                parts.append(_insert("#runs-rows", row, wrapper="tbody", where="afterbegin"))
                while len(self.known) > self.limit:
                    parts.append(_delete(f"run-row-{self.known.pop()}", tag="tr"))
        return parts


def _list_params(params: Mapping[str, str], default_limit: int) -> dict[str, Any]:
    status = params.get("status", "")
    error_class = params.get("error_class", "")
    limit = _int(params.get("limit")) or default_limit
    return {
        "status": status if status in {s.value for s in RunStatus} else "",
        "error_class": error_class if error_class in {c.value for c in ErrorClass} else "",
        "cursor": params.get("cursor", ""),
        "limit": max(1, min(limit, 200)),
    }


def open_runs(argument: str, user: Any, params: Mapping[str, str]) -> RunList | None:
    if argument:
        return None
    return RunList(group="runs", user=user, flow=None, **_list_params(params, pages.RUNS_PER_PAGE))


def open_flow(argument: str, user: Any, params: Mapping[str, str]) -> RunList | None:
    flow_id = _int(argument)
    flow = selectors.flow_by_id(flow_id=flow_id) if flow_id is not None else None
    if flow is None:
        return None
    return RunList(
        group=f"flow.{flow.id}", user=user, flow=flow, **_list_params(params, pages.RUNS_PER_PAGE)
    )


# --- approvals ----------------------------------------------------------------------------------


class InboxBadge:
    """The navigation badge: what waits on this user, recounted when an approval changes.
    Every approval lands here: paced."""

    group = "inbox"
    min_interval = live.BURST_WINDOW

    def __init__(self, *, user: Any) -> None:
        self.user = user

    def sync(self) -> list[str]:
        return [_render("base.html#approvals_badge", inbox.badge_context(user=self.user))]

    def render(self, events: Events) -> list[str]:
        return self.sync() if _ids(events, "approval.changed", "approval_id") else []


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
        context = inbox.inbox_rows_context(
            user=self.user, filters=self.filters, open_id=self.open_id
        )
        self.rows = {row.approval.id: inbox_sort_key(row.approval) for row in context["rows"]}
        return [_render(f"{INBOX}#inbox_rows", context)]

    def sync(self) -> list[str]:
        parts = self._all()
        if rows_version(list(self.rows)) == self.version:
            return []  # the page already shows exactly these rows
        return parts

    def render(self, events: Events) -> list[str]:
        parts: list[str] = []
        for approval_id in _ids(events, "approval.changed", "approval_id"):
            approval = approval_selectors.approval_get(approval_id=approval_id)
            visible = (
                approval is not None
                and approval.status == "pending"
                and approval_selectors.inbox_matches(approval, user=self.user, filters=self.filters)
            )
            if approval_id in self.rows:
                key = self.rows.pop(approval_id)
                if not visible:
                    parts.append(_delete(f"inbox-row-{approval_id}", tag="li"))
                    continue
                assert approval is not None
                if inbox_sort_key(approval) == key:
                    self.rows[approval_id] = key
                    context = inbox.inbox_row_context(
                        approval, user=self.user, filters=self.filters
                    )
                    parts.append(_render(f"{INBOX}#inbox_row", context))
                    continue
                parts.append(_delete(f"inbox-row-{approval_id}", tag="li"))
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
        context = inbox.inbox_row_context(approval, user=self.user, filters=self.filters)
        row = _render(f"{INBOX}#inbox_row", context, oob=False)
        if later:
            return _insert(f"#inbox-row-{min(later)[1]}", row, wrapper="ul", where="beforebegin")
        return _insert("#inbox-rows", row, wrapper="ul")


def open_approvals(argument: str, user: Any, params: Mapping[str, str]) -> InboxPage | None:
    if argument:
        return None
    return InboxPage(
        user=user,
        filters=InboxFilters.parse(params, user=user),
        open_id=_int(params.get("open")),
        version=str(params.get("v") or ""),
    )


# --- the flows list -------------------------------------------------------------------------------


class FlowsHome:
    """The flows list. Every run lands here: paced."""

    group = "home"
    min_interval = live.BURST_WINDOW

    def __init__(self, *, user: Any) -> None:
        self.user = user

    def sync(self) -> list[str]:
        flows = list(selectors.flow_overview_list())
        context = {"flows": flows, **pages.flow_row_context(None, user=self.user)}
        return [_render(f"{FLOW_LIST}#flow_rows", context)]

    def render(self, events: Events) -> list[str]:
        parts: list[str] = []
        for flow_id in _ids(events, "run.changed", "flow_id"):
            flow = selectors.flow_overview_get(flow_id=flow_id)
            if flow is not None:
                context = pages.flow_row_context(flow, user=self.user)
                parts.append(_render(f"{FLOW_LIST}#flow_row", context))
        return parts


def open_flows(argument: str, user: Any, params: Mapping[str, str]) -> FlowsHome | None:
    return None if argument else FlowsHome(user=user)


# --- the control-room home ------------------------------------------------------------------------


class ControlRoomHome:
    """Every run or approval change redraws the counters, health and stuck-run panels: each is
    a handful of indexed aggregates. Under a steady stream of runs the consumer renders at
    most once per ``min_interval`` seconds, the events of that second in one batch."""

    group = "home"
    min_interval = 1.0

    def __init__(self, *, user: Any) -> None:
        self.user = user

    def sync(self) -> list[str]:
        context = home.home_context(user=self.user)
        return [_render(f"{HOME}#{name}", context) for name in ("counters", "health", "stuck")]

    def render(self, events: Events) -> list[str]:
        return self.sync() if events else []


def open_home(argument: str, user: Any, params: Mapping[str, str]) -> ControlRoomHome | None:
    return None if argument else ControlRoomHome(user=user)


def register_topics() -> None:
    live.register("run", open_run)
    live.register("runs", open_runs)
    live.register("flow", open_flow)
    live.register("inbox", open_inbox)
    live.register("approvals", open_approvals)
    live.register("flows", open_flows)
    live.register("home", open_home)
