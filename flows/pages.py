"""Template contexts for the HTML pages and for the live fragments pushed over the websocket.

One builder per partial. ``flows.views`` renders whole pages with them and ``flows.live``
renders the same partials with the same builders, so a pushed fragment is exactly what a
reload would show. Reads go through ``flows.selectors``; nothing here writes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlencode

from django.urls import reverse

from controlroom.roles import Capability, can
from flows import graph as graphs
from flows import layout, scopes, selectors
from flows.launch import launch_checklist
from flows.models import Flow, FlowVersion, Run, Step
from flows.states import RUN_TERMINAL, RunStatus, StepStatus

#: How a state reads in the UI (colour is never the only signal).
STATE_LABELS = {"waiting_approval": "waiting for approval"}
#: A graph node no step has reached yet.
NODE_NOT_REACHED = "pending"
#: Longest pretty-printed input or output shown in a page; the API has the rest.
JSON_PREVIEW_LIMIT = 20_000
RECENT_RUNS = 10
RUNS_PER_PAGE = 50


def state_label(state: str | None) -> str:
    if not state:
        return ""
    return STATE_LABELS.get(state, state.replace("_", " "))


def pretty(value: Any) -> str:
    """Text to show in a ``<pre>``: strings as they are, anything else as indented JSON.
    Always escaped by the template: model output is untrusted."""
    if value is None:
        return ""
    text = (
        value
        if isinstance(value, str)
        else json.dumps(value, indent=2, ensure_ascii=False, default=str)
    )
    if len(text) > JSON_PREVIEW_LIMIT:
        text = text[:JSON_PREVIEW_LIMIT] + f"\n… ({len(text) - JSON_PREVIEW_LIMIT} more characters)"
    return text


def format_duration(ms: int | None) -> str:
    """412 → "412 ms", 3400 → "3.4 s", 125000 → "2 min 05 s", 3720000 → "1 h 02 min"."""
    if ms is None:
        return ""
    if ms < 1000:
        return f"{ms} ms"
    seconds = ms / 1000
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def format_money(value: Any) -> str:
    """A cost in the one currency: "$0.0042", "$0.20", "$12.50", "-$3.00", "$0" for nothing
    spent. Cents always show two places; under a dollar up to four decimals, so a single
    cheap call is not shown as nothing."""
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return ""
    if not amount.is_finite():
        return ""
    if amount == 0:
        return "$0"
    sign, amount = ("-" if amount < 0 else ""), abs(amount)
    if amount >= 1:
        return f"{sign}${amount:,.2f}"
    rounded = amount.quantize(Decimal("0.0001"))
    if rounded == 0:
        return f"{sign}<$0.0001"
    exponent = rounded.normalize().as_tuple().exponent
    places = max(2, -exponent) if isinstance(exponent, int) else 4
    return f"{sign}${rounded:.{places}f}"


def live_url(*keys: str, **params: Any) -> str:
    """The websocket address a page connects to: its subscriptions plus the nav badge's."""
    query = {"subscribe": ",".join(["inbox", *keys])}
    query.update({name: str(value) for name, value in params.items() if value not in (None, "")})
    return "/ws/?" + urlencode(query)


# --- the graph --------------------------------------------------------------------------------


def graph_context(
    version: FlowVersion,
    *,
    states: dict[str, str] | None = None,
    counts: dict[str, int] | None = None,
) -> dict[str, Any]:
    """The SVG graph of ``version``; with ``states`` (node id → latest step status) each node
    carries its state, and edges between reached nodes are drawn as travelled. ``counts``
    (node id → steps so far) marks nodes that ran more than once (loop passes, map items)."""
    graph = graphs.for_version(version.id, version.document)
    drawing = layout.layout(version.document, graph)
    nodes: list[dict[str, Any]] = []
    for box in drawing.nodes:
        state = (states or {}).get(box.id, NODE_NOT_REACHED) if states is not None else ""
        label = "not reached" if state == NODE_NOT_REACHED else state_label(state)
        runs = (counts or {}).get(box.id, 0)
        nodes.append({"box": box, "state": state, "state_label": label, "runs": runs})
    edges = []
    for edge in drawing.edges:
        # An error edge is travelled from a failed step, any other from a succeeded one.
        source_state = "failed" if edge.kind == "error" else "succeeded"
        travelled = bool(
            states
            and states.get(edge.src) == source_state
            and states.get(edge.dst) not in (None, "skipped")
        )
        edges.append({"line": edge, "travelled": travelled})
    summary = "; ".join(
        f"{node['box'].name}: {node['state_label']}" if node["state"] else node["box"].name
        for node in nodes
    )
    return {
        "graph": {
            "width": drawing.width,
            "height": drawing.height,
            "nodes": nodes,
            "edges": edges,
            "summary": summary,
            "stateful": states is not None,
        }
    }


def run_graph_context(run: Run) -> dict[str, Any]:
    states, counts = selectors.node_progress(run=run)
    return graph_context(run.version, states=states, counts=counts)


def scope_label(scope: str) -> str:
    """``split#4/@match#2`` → ``split #4 / item 2``: loop passes and map items, readable; a
    send-back round shows from its second draft on (``~review#1`` → ``review: draft 2``)."""
    labels = []
    for part in scope.split("/") if scope else []:
        name, _, number = part.partition("#")
        if name.startswith(scopes.ROUND_PREFIX):
            if number != "0":
                labels.append(f"{name[1:]}: draft {int(number) + 1}")
        else:
            labels.append(f"item {number}" if name.startswith("@") else f"{name} #{number}")
    return " / ".join(labels)


# --- a run ------------------------------------------------------------------------------------


def run_header_context(run: Run, *, user: Any) -> dict[str, Any]:
    operate = can(user, Capability.OPERATE)
    return {
        "run": run,
        "run_status_label": state_label(run.status),
        "can_cancel": operate and run.status not in RUN_TERMINAL,
        "can_retry": operate and run.status in {RunStatus.FAILED, RunStatus.CANCELLED},
        "retries": list(run.retries.order_by("created_at").values("id", "status")),
        "run_output": pretty(run.output),
        "deliveries": selectors.run_deliveries(run=run),
    }


@dataclass(frozen=True)
class StepRow:
    """One timeline row, formatted here rather than in the template: a run page may hold
    hundreds of them and every template lookup counts."""

    step: Step
    io_url: str
    name: str
    status_label: str
    scope_label: str
    attempts: str
    offset: str
    duration: str
    tokens: str
    cost: str
    error_short: str
    #: How a failure went on: "error path → fallback" (failed, took its error edges) or
    #: "continued after error" (``on_error: continue``); "" otherwise.
    failure_path: str = ""

    # Only an opened row shows these; a timeline of hundreds of rows never computes them.
    @property
    def input_text(self) -> str:
        return pretty(self.step.input)

    @property
    def output_text(self) -> str:
        return pretty(self.step.output)


def step_row(step: Step, *, run: Run) -> StepRow:
    graph = graphs.for_version(run.version_id, run.version.document)
    node = graph.nodes.get(step.node_id, {})
    offset = ""
    if step.started_at and run.started_at:
        ms = max(0, int((step.started_at - run.started_at).total_seconds() * 1000))
        offset = "+" + format_duration(ms)
    tokens = (
        f"{step.tokens_in:,} / {step.tokens_out:,}" if step.tokens_in or step.tokens_out else ""
    )
    error = ""
    if step.error:
        error = f"{step.error_class}: {step.error}" if step.error_class else step.error
    failure_path = ""
    if step.status == StepStatus.FAILED and step.taken:
        targets = [e.dst for e in graph.error_edges.get(step.node_id, []) if e.index in step.taken]
        failure_path = "error path → " + ", ".join(targets)
    elif step.status == StepStatus.SUCCEEDED and (step.input or {}).get("on_error") == "continued":
        failure_path = "continued after error"
        caught = (step.output or {}).get("error") or {}
        error = f"{caught.get('class', '')}: {caught.get('message', '')}"
    return StepRow(
        step=step,
        io_url=reverse("step_detail", kwargs={"run_id": step.run_id, "step_id": step.id}),
        name=str(node.get("name") or step.node_id),
        status_label=state_label(step.status),
        scope_label=scope_label(step.scope),
        attempts=f"{step.attempt}/{step.max_attempts}",
        offset=offset,
        duration=format_duration(step.duration_ms),
        tokens=tokens,
        cost=format_money(step.cost) if step.cost else "",
        error_short=error if len(error) <= 90 else error[:89] + "…",
        failure_path=failure_path,
    )


def timeline_context(run: Run) -> dict[str, Any]:
    return {
        "run": run,
        "step_rows": [step_row(step, run=run) for step in selectors.run_steps(run=run)],
    }


def step_row_context(step: Step, *, run: Run) -> dict[str, Any]:
    """An opened timeline row: the step, and every tool call it made (agent loops and tool
    nodes), in order, with arguments, result or error, duration and idempotency key."""
    from agents.selectors import tool_call_list

    calls = [
        {
            "call": call,
            "arguments_text": json.dumps(call.arguments, indent=2, ensure_ascii=False, default=str),
            "result_text": json.dumps(call.result, indent=2, ensure_ascii=False, default=str)
            if call.result is not None
            else "",
        }
        for call in tool_call_list(step_id=step.id)
    ]
    from flows.guardrails.selectors import verdict_list

    return {
        "run": run,
        "row": step_row(step, run=run),
        "tool_calls": calls,
        "verdicts": list(verdict_list(step_id=step.id)),
    }


# --- flows ------------------------------------------------------------------------------------


def flow_row_context(flow: Flow | None, *, user: Any) -> dict[str, Any]:
    return {"flow": flow, "can_operate": can(user, Capability.OPERATE)}


def flow_launch_context(flow: Flow) -> dict[str, Any]:
    """The launch checklist of the flow's latest version (the one publishing would make live),
    each item with the editor address that opens where to fill it in."""
    latest = flow.versions.order_by("-number").first()
    if latest is None:
        return {"launch_version": None, "launch_items": []}
    editor = reverse("flow_editor", args=[flow.slug])
    items = [
        {**item.as_dict(), "url": f"{editor}?{urlencode({'launch': item.key})}"}
        for item in launch_checklist(latest.document)
    ]
    return {
        "launch_version": latest,
        "launch_items": items,
        "launch_missing": [item for item in items if not item["ok"]],
    }


def flow_page_context(flow: Flow, *, user: Any) -> dict[str, Any]:
    version = selectors.flow_version_current(flow=flow)
    context: dict[str, Any] = {
        "flow": flow,
        "version": version,
        "sample_input": "{}",
        "runs": list(selectors.run_list(flow=flow)[:RECENT_RUNS]),
    }
    if version is not None:
        context.update(graph_context(version))
        sample = version.document.get("sample_input")
        if sample is not None:
            context["sample_input"] = json.dumps(sample, indent=2, ensure_ascii=False)
    return context
