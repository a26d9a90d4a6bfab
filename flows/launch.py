"""The Trigger -> Action -> Feedback -> ROI launch checklist.

A flow may go live (be published) only when its document closes the loop: something starts
it, it does something, something tells us whether it worked, and we know what a case is worth.
Pure: a function of the document alone (the validator decides whether it can run at all; this
decides whether it may go live). The editor shows the same items, so every item says where to
fill it in: a node to select, or a panel and the document pointer of the field.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from flows.engine.nodes import REGISTRY
from flows.engine.nodes.base import NodeType

MAX_BASELINE_MINUTES = 100_000
MAX_HOURLY_COST = Decimal("1000000")


@dataclass(frozen=True)
class LaunchItem:
    """One checklist line. ``where`` tells the editor what to open: ``panel`` ("trigger",
    "palette", "feedback", "roi" or "node"), ``pointer`` (the document field) and ``node``
    (a node id to select) when there is one."""

    key: str
    title: str
    ok: bool
    message: str
    where: dict[str, str]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class NotLaunchable(Exception):
    """Publishing was refused: the checklist has missing items (a 4xx for the caller)."""

    def __init__(self, items: list[LaunchItem]) -> None:
        self.items = items
        self.missing = [item for item in items if not item.ok]
        names = ", ".join(item.title for item in self.missing)
        self.message = f"the flow cannot go live yet; missing: {names}"
        super().__init__(self.message)

    @property
    def details(self) -> list[dict[str, str]]:
        return [{"pointer": i.where.get("pointer", ""), "message": i.message} for i in self.missing]


def _node_type(node: dict[str, Any]) -> NodeType | None:
    """The node's type, None when unknown (a draft may name one: the validator reports it)."""
    return REGISTRY.get(str(node.get("type")))


def _is_action(node: dict[str, Any]) -> bool:
    node_type = _node_type(node)
    return node_type is not None and node_type.is_action


def _human_role(node: dict[str, Any]) -> str:
    """Where a person takes part in the node (``NodeType.human_role``)."""
    node_type = _node_type(node)
    config = node.get("config")
    if node_type is None:
        return ""
    return node_type.human_role(config if isinstance(config, dict) else {})


def _nodes(document: dict[str, Any]) -> list[dict[str, Any]]:
    nodes = document.get("nodes")
    return [n for n in nodes if isinstance(n, dict)] if isinstance(nodes, list) else []


#: How runs of a flow start, per trigger type, as the launch checklist says it.
TRIGGER_PHRASES = {
    "manual": "Runs start manually (Run button or API).",
    "webhook": "Runs start when a signed request reaches the flow's webhook URL.",
    "schedule": "Runs start on the flow's schedule.",
    "form": "Runs start when someone submits the flow's public form.",
    "event": "Runs start on an event: another flow's run finishing or an outcome recorded.",
}


def _trigger(document: dict[str, Any]) -> LaunchItem:
    trigger = document.get("trigger")
    where = {"panel": "trigger", "pointer": "/trigger"}
    if not isinstance(trigger, dict) or not trigger.get("type"):
        return LaunchItem(
            "trigger",
            "Trigger",
            False,
            "No trigger: choose how runs start (manual, webhook, "
            "schedule, form or event) in the Launch panel.",
            where,
        )
    kind = str(trigger["type"])
    detail = TRIGGER_PHRASES.get(kind, f"Runs start from a {kind} trigger.")
    return LaunchItem("trigger", "Trigger", True, detail, where)


def _action(document: dict[str, Any]) -> LaunchItem:
    actions = [n for n in _nodes(document) if _is_action(n)]
    if not actions:
        return LaunchItem(
            "action",
            "Action",
            False,
            "No action: add an agent or a tool node from the palette.",
            {"panel": "palette", "pointer": "/nodes"},
        )
    first = str(actions[0].get("id", ""))
    count = len(actions)
    message = f"{count} action node{'s' if count != 1 else ''} (first: {first})."
    return LaunchItem("action", "Action", True, message, {"panel": "node", "node": first})


def _outcome_metric(document: dict[str, Any]) -> str | None:
    """The outcome metric the flow's results are measured by (``feedback.outcome``, else
    ``roi.success_outcome``), or None when neither names one."""
    for block, name in (("feedback", "outcome"), ("roi", "success_outcome")):
        section = document.get(block)
        value = section.get(name) if isinstance(section, dict) else None
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


def _subject_missing(document: dict[str, Any]) -> LaunchItem | None:
    """Outcomes are reported about a subject and attach to that subject's run, so a flow whose
    success is an outcome needs a top-level ``subject`` template; without one every outcome
    would match no run (``outcome_record`` refuses those with ``no_matching_run``)."""
    metric = _outcome_metric(document)
    subject = document.get("subject")
    if metric is None or (isinstance(subject, str) and subject.strip()):
        return None
    return LaunchItem(
        "feedback",
        "Feedback",
        False,
        f"Outcome {metric!r} is reported by subject, but the flow has no subject: set a "
        "subject template (e.g. {{ input.email }}) so outcomes find their run.",
        {"panel": "feedback", "pointer": "/subject"},
    )


def _feedback(document: dict[str, Any]) -> LaunchItem:
    """Feedback is an approval node (a human sees each case) or a declared outcome metric
    (``feedback.outcome``, reported later through the outcomes API). A flow whose success is
    an outcome (``feedback.outcome`` or ``roi.success_outcome``) also needs a ``subject``."""
    missing_subject = _subject_missing(document)
    if missing_subject is not None:
        return missing_subject
    nodes = _nodes(document)
    approvals = [str(n.get("id", "")) for n in nodes if _human_role(n) == "approval"]
    feedback = document.get("feedback")
    feedback = feedback if isinstance(feedback, dict) else {}
    declared = feedback.get("approval_node")
    if declared is not None and declared not in approvals:
        return LaunchItem(
            "feedback",
            "Feedback",
            False,
            f"feedback.approval_node names {declared!r}, which is not an approval node of "
            "this flow.",
            {"panel": "feedback", "pointer": "/feedback/approval_node"},
        )
    outcome = feedback.get("outcome")
    if outcome is not None and (not isinstance(outcome, str) or not outcome.strip()):
        return LaunchItem(
            "feedback",
            "Feedback",
            False,
            "feedback.outcome must be the name of an outcome metric (e.g. meeting_booked).",
            {"panel": "feedback", "pointer": "/feedback/outcome"},
        )
    if isinstance(outcome, str):
        return LaunchItem(
            "feedback",
            "Feedback",
            True,
            f"Outcome metric {outcome!r} is reported back.",
            {"panel": "feedback", "pointer": "/feedback/outcome"},
        )
    if approvals:
        return LaunchItem(
            "feedback",
            "Feedback",
            True,
            f"A person reviews each case at {approvals[0]!r}.",
            {"panel": "node", "node": approvals[0]},
        )
    return LaunchItem(
        "feedback",
        "Feedback",
        False,
        "No feedback path: declare the outcome metric that reports results (Launch panel), "
        "or add an approval node.",
        {"panel": "feedback", "pointer": "/feedback/outcome"},
    )


def _number(value: Any) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def _roi_problem(roi: dict[str, Any]) -> tuple[str, str] | None:
    """The first ``(pointer, message)`` wrong with a present ``roi`` block, else None."""
    minutes = _number(roi.get("baseline_minutes"))
    if "baseline_minutes" not in roi:
        return "/roi/baseline_minutes", "ROI needs baseline_minutes: a person's minutes per case."
    if minutes is None or not (0 < minutes <= MAX_BASELINE_MINUTES):
        return (
            "/roi/baseline_minutes",
            f"baseline_minutes must be a number above 0 and at most {MAX_BASELINE_MINUTES}.",
        )
    cost = _number(roi.get("hourly_cost"))
    if "hourly_cost" not in roi:
        return "/roi/hourly_cost", "ROI needs hourly_cost: what an hour of that work costs."
    if cost is None or not (0 <= cost <= MAX_HOURLY_COST):
        return "/roi/hourly_cost", f"hourly_cost must be a number from 0 to {MAX_HOURLY_COST}."
    success = roi.get("success_outcome")
    if not isinstance(success, str) or not success.strip():
        return (
            "/roi/success_outcome",
            "ROI needs success_outcome: the outcome (or 'run.succeeded') that counts a case "
            "as a success.",
        )
    return None


def _roi(document: dict[str, Any]) -> LaunchItem:
    roi = document.get("roi")
    if not isinstance(roi, dict):
        return LaunchItem(
            "roi",
            "ROI",
            False,
            "No ROI definition: fill in baseline minutes per case, hourly cost and the success "
            "outcome in the Launch panel.",
            {"panel": "roi", "pointer": "/roi"},
        )
    problem = _roi_problem(roi)
    if problem is not None:
        return LaunchItem("roi", "ROI", False, problem[1], {"panel": "roi", "pointer": problem[0]})
    message = (
        f"{roi['baseline_minutes']} min per case at {roi['hourly_cost']}/h; success is "
        f"{roi['success_outcome']!r}."
    )
    return LaunchItem("roi", "ROI", True, message, {"panel": "roi", "pointer": "/roi"})


def launch_checklist(document: Any) -> list[LaunchItem]:
    """The four items, in loop order, each ok or missing with a message and where to fix it."""
    doc = document if isinstance(document, dict) else {}
    return [_trigger(doc), _action(doc), _feedback(doc), _roi(doc)]


def launch_check(document: Any) -> None:
    """Raise ``NotLaunchable`` unless every checklist item is ok."""
    items = launch_checklist(document)
    if not all(item.ok for item in items):
        raise NotLaunchable(items)
