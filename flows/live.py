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
- ``flows`` (group ``home``): the flows list's per-flow run count and latest status;
- ``home`` (group ``home``): the control-room home — counters, worker and queue health, the
  stuck-run alarm (its live feed of runs is a ``runs`` subscription).

The inbox's keys (``inbox``, ``approvals``) are in ``flows.approvals.live``, built with the
fragment helpers below (``fragment``, ``event_ids``, ``int_param``, ``oob_insert``,
``oob_delete``).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from django.template.loader import render_to_string

from controlroom import live
from controlroom.pagination import BadCursor, page
from flows import home, pages, selectors
from flows.approvals import pages as approval_pages
from flows.models import Flow, Run
from flows.states import ErrorClass, RunStatus

Events = Sequence[Mapping[str, Any]]

RUN_DETAIL = "flows/run_detail.html"
RUN_LIST = "flows/run_table.html"
FLOW_LIST = "flows/flow_list.html"
HOME = "flows/home.html"


def fragment(template: str, context: dict[str, Any], *, oob: bool = True) -> str:
    """``template`` (a ``page.html#partial`` name) rendered with ``context``; ``oob``: as an
    out-of-band swap (the partials read it), else as plain HTML to insert."""
    return render_to_string(template, {**context, "oob": oob})


def event_ids(events: Events, kind: str, name: str) -> list[Any]:
    """The distinct ``data[name]`` of the events of type ``kind``, first seen first."""
    found = (e.get("data", {}).get(name) for e in events if e.get("type") == kind)
    return list(dict.fromkeys(value for value in found if value is not None))


def int_param(value: str | None) -> int | None:
    """A query parameter as an int; None when it is missing, empty or not a number."""
    try:
        return int(value) if value not in (None, "") else None
    except ValueError:
        return None


def oob_insert(selector: str, html: str, *, wrapper: str = "div", where: str = "beforeend") -> str:
    """Insert ``html`` into ``selector`` (the wrapper itself is dropped by htmx)."""
    return f'<{wrapper} hx-swap-oob="{where}:{selector}">{html}</{wrapper}>'


def oob_delete(element_id: str, *, tag: str = "div") -> str:
    """Remove the element ``element_id`` from the page."""
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
            fragment(f"{RUN_DETAIL}#run_header", pages.run_header_context(run, user=self.user)),
            fragment(f"{RUN_DETAIL}#graph", pages.run_graph_context(run)),
            fragment(f"{RUN_DETAIL}#timeline_rows", timeline),
            fragment(
                f"{RUN_DETAIL}#approvals", approval_pages.run_approvals_context(run, user=self.user)
            ),
        ]

    def render(self, events: Events) -> Iterator[str]:
        """The changed steps' rows first (the change itself), then the graph's node states,
        the header and the approvals panel: each goes out as soon as it is rendered."""
        run = selectors.run_get(run_id=self.run_id)
        if run is None:
            return
        step_ids = sorted(event_ids(events, "step.changed", "step_id"))
        for step in selectors.step_list(step_ids=step_ids):
            # The row's summary only: its input, output and tool calls load when it is opened.
            context = {"row": pages.step_row(step, run=run)}
            if step.id in self.known_steps:
                yield fragment(f"{RUN_DETAIL}#step_row", context)
            else:
                self.known_steps.add(step.id)
                row = fragment(f"{RUN_DETAIL}#step_row", context, oob=False)
                yield oob_insert("#timeline-rows", row)
        if step_ids:
            yield fragment(f"{RUN_DETAIL}#graph", pages.run_graph_context(run))
        # Tokens and cost move with every step, the status with run events: always resend it.
        yield fragment(f"{RUN_DETAIL}#run_header", pages.run_header_context(run, user=self.user))
        if event_ids(events, "approval.changed", "approval_id"):
            yield fragment(
                f"{RUN_DETAIL}#approvals", approval_pages.run_approvals_context(run, user=self.user)
            )


def open_run(argument: str, user: Any, params: Mapping[str, str]) -> RunPage | None:
    try:
        run_id = uuid.UUID(argument)
    except ValueError:
        return None
    run = selectors.run_get(run_id=run_id)
    if run is None:
        return None
    return RunPage(run, user=user, rev=int_param(params.get("rev")))


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
        return [fragment(f"{RUN_LIST}#run_rows", self._context(runs))]

    def _matches(self, run: Run) -> bool:
        return (
            (self.flow is None or run.flow_id == self.flow.id)
            and (not self.status or run.status == self.status)
            and (not self.error_class or run.error_class == self.error_class)
        )

    def render(self, events: Events) -> list[str]:
        parts: list[str] = []
        for run_id in event_ids(events, "run.changed", "run_id"):
            run = selectors.run_get(run_id=run_id)
            if run is None:
                continue
            context = {**self._context([run]), "run": run}
            if run.id in self.known:
                parts.append(fragment(f"{RUN_LIST}#run_row", context))
            elif not self.cursor and self._matches(run):
                if not self.known:
                    parts += self.sync()  # replaces the empty-list row
                    continue
                self.known.insert(0, run.id)
                row = fragment(f"{RUN_LIST}#run_row", context, oob=False)
                parts.append(oob_insert("#runs-rows", row, wrapper="tbody", where="afterbegin"))
                while len(self.known) > self.limit:
                    parts.append(oob_delete(f"run-row-{self.known.pop()}", tag="tr"))
        return parts


def _list_params(params: Mapping[str, str], default_limit: int) -> dict[str, Any]:
    status = params.get("status", "")
    error_class = params.get("error_class", "")
    limit = int_param(params.get("limit")) or default_limit
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
    flow_id = int_param(argument)
    flow = selectors.flow_by_id(flow_id=flow_id) if flow_id is not None else None
    if flow is None:
        return None
    return RunList(
        group=f"flow.{flow.id}", user=user, flow=flow, **_list_params(params, pages.RUNS_PER_PAGE)
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
        return [fragment(f"{FLOW_LIST}#flow_rows", context)]

    def render(self, events: Events) -> list[str]:
        parts: list[str] = []
        for flow_id in event_ids(events, "run.changed", "flow_id"):
            flow = selectors.flow_overview_get(flow_id=flow_id)
            if flow is not None:
                context = pages.flow_row_context(flow, user=self.user)
                parts.append(fragment(f"{FLOW_LIST}#flow_row", context))
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
        return [fragment(f"{HOME}#{name}", context) for name in ("counters", "health", "stuck")]

    def render(self, events: Events) -> list[str]:
        return self.sync() if events else []


def open_home(argument: str, user: Any, params: Mapping[str, str]) -> ControlRoomHome | None:
    return None if argument else ControlRoomHome(user=user)


def register_topics() -> None:
    live.register("run", open_run)
    live.register("runs", open_runs)
    live.register("flow", open_flow)
    live.register("flows", open_flows)
    live.register("home", open_home)
