"""Recording ROI facts on the hot path, in the transaction that made each one true.

Design (the issue's option b, with the change log made of the facts themselves): the engine,
the approval decisions and ``outcome_record`` call these functions right after their
compare-and-set succeeded, inside the same transaction. Each call is one multi-row INSERT into
``RoiFact`` (plus, for agent steps that called tools, one indexed read of those calls). Nothing is
updated in place, so two workers finishing steps of the same flow on the same day never wait
on each other's row locks, and a lost race, a duplicate delivery or a rolled-back transaction
records nothing (the fact commits or vanishes with the transition it describes): exact, no
double count. ``flows.roi.rollups`` folds the facts into per-day sums every couple of seconds
and every read adds the few facts not folded yet, so dashboards are never behind.
"""

from __future__ import annotations

import json
from bisect import bisect_right
from datetime import datetime
from decimal import Decimal
from typing import Any

from agents.models import ToolCall
from controlroom import batch
from flows.engine.nodes import REGISTRY
from flows.models import Approval, Outcome, Run, Step
from flows.roi.models import BUCKET_BOUNDS_MS, MEASURES, Grain
from flows.roi.sketch import sketch_key

_STATUS_FIELD = {
    "succeeded": "ok",
    "failed": "failed",
    "cancelled": "cancelled",
    "skipped": "skipped",
}
_RESOLUTION_FIELD = {
    Approval.Resolution.APPROVED: "approved",
    Approval.Resolution.EDITED: "edited",
    Approval.Resolution.REJECTED: "rejected",
    Approval.Resolution.SENT_BACK: "sent_back",
    Approval.Resolution.AUTO_APPROVED: "auto_decided",
    Approval.Resolution.AUTO_REJECTED: "auto_decided",
    Approval.Resolution.AUTO_PASSED: "auto_decided",
    Approval.Resolution.CANCELLED: "cancelled",
}
HUMAN_RESOLUTIONS = frozenset({"approved", "edited", "rejected", "sent_back"})
_REVIEW_FIELD = {"inbox": "reviewed", "api": "reported"}
REASON_MAX = 200


_COLUMNS = ("run_id", "grain", "key", "key2", *MEASURES, "sketch")
_INSERT = f"INSERT INTO flows_roifact ({', '.join(_COLUMNS)}) VALUES "


def _record(*facts: tuple[Any, str, str, str, dict[str, Any]]) -> None:
    """INSERT ``(run_id, grain, key, key2, measures)`` facts in one statement (measures not
    named are zero; ``sketch``, a dict, is the durations' sketch, empty when not named).
    Plain SQL: this runs once per step on the engine's hot path, and building
    model instances of ~50 fields cost more than the insert itself. The zeros are written into
    the statement, so it carries a handful of parameters (a driver parses a statement with
    few parameters once and caches it; one with ~50 it parses every time)."""
    if not facts:
        return
    rows: list[str] = []
    params: list[Any] = []
    for run_id, grain, key, key2, measures in facts:
        placeholders = ["%s", "%s", "%s", "%s"]
        params += [run_id, str(grain), key[:200], key2[:200]]
        for name in MEASURES:
            if name in measures:
                placeholders.append("%s")
                params.append(measures[name])
            else:
                placeholders.append("0")
        if measures.get("sketch"):
            placeholders.append("%s::jsonb")
            params.append(json.dumps(measures["sketch"]))
        else:
            placeholders.append("'{}'::jsonb")
        rows.append(f"({', '.join(placeholders)})")
    batch.execute(_INSERT + ", ".join(rows), params)  # with the transaction's history rows


def bucket_field(ms: int) -> str:
    """The histogram column a duration of ``ms`` milliseconds is counted in."""
    return f"h{bisect_right(BUCKET_BOUNDS_MS, max(ms, 0)):02d}"


def _ms(start: datetime | None, end: datetime | None) -> int | None:
    if start is None or end is None:
        return None
    return max(int((end - start).total_seconds() * 1000), 0)


def _duration(fields: dict[str, Any], ms: int | None) -> None:
    if ms is not None:
        fields["duration_ms"] = ms
        fields["durations"] = 1
        fields[bucket_field(ms)] = 1
        fields["sketch"] = {sketch_key(ms): 1}


def fact_step_finished(step: Step) -> None:
    """A step reached a terminal status: its node's counts, wait and duration, and what its
    model and tools cost. A step reused from an earlier run (a retry) did no new work."""
    if step.reused_from_id is not None:
        return
    node: dict[str, Any] = {"n": 1}
    status_field = _STATUS_FIELD.get(str(step.status))
    if status_field:
        node[status_field] = 1
    if step.status != "skipped":
        wait = _ms(step.created_at, step.started_at)
        if wait is not None:
            node["wait_ms"] = wait
            node["waits"] = 1
        _duration(node, _ms(step.started_at, step.finished_at))
    facts = [(step.run_id, Grain.NODE, step.node_id, step.node_type, node)]
    if step.tokens_in or step.tokens_out or step.cost:
        facts += [(step.run_id, Grain.USAGE, *usage) for usage in step_usage_by_model(step)]
    # Only a model-calling (agent) step that called tools (its recorded answer says so) has
    # rows to read.
    if (
        _calls_model(step.node_type)
        and isinstance(step.input, dict)
        and step.input.get("tool_calls")
    ):
        calls: dict[str, dict[str, Any]] = {}
        for tool, cost in ToolCall.objects.filter(step_id=step.id).values_list("tool", "cost"):
            sums = calls.setdefault(tool, {"n": 0, "cost": Decimal(0)})
            sums["n"] += 1
            sums["cost"] += cost
        facts += [(step.run_id, Grain.TOOL, tool, "", sums) for tool, sums in calls.items()]
    _record(*facts)


def _calls_model(node_type: str) -> bool:
    """Whether steps of this node type call a model (``NodeType.calls_model``); False for a
    type no longer known."""
    known = REGISTRY.get(node_type)
    return known is not None and known.calls_model


def step_usage_by_model(step: Step) -> list[tuple[str, str, dict[str, Any]]]:
    """A step's model usage as ``(agent, model, {n, tokens_in, tokens_out, cost})`` entries,
    each billed to the model that was actually called: one per stage of the agent's cascade
    that used anything (its ``routing`` entries in the step's input, a stage that failed or
    used nothing aside), so a cheap model's call is not billed to the stronger model that
    answered last. A step without routing entries, or whose entries do not add up to its
    totals (an answer a person approved in place of the model's), is one entry on
    ``step.model``."""
    details = step.input if isinstance(step.input, dict) else {}
    spec = details.get("agent_spec")
    agent = str(spec.get("slug", "")) if isinstance(spec, dict) else ""
    whole = {"n": 1, "tokens_in": step.tokens_in, "tokens_out": step.tokens_out}
    single = [(agent, step.model or "", whole | {"cost": step.cost})]
    routing = details.get("routing")
    if not isinstance(routing, list) or not routing:
        return single
    entries: list[tuple[str, str, dict[str, Any]]] = []
    try:
        for stage in routing:
            usage = {
                "n": 1,
                "tokens_in": int(stage.get("tokens_in") or 0),
                "tokens_out": int(stage.get("tokens_out") or 0),
                "cost": Decimal(str(stage.get("cost") or 0)),
            }
            if usage["tokens_in"] or usage["tokens_out"] or usage["cost"]:
                entries.append((agent, str(stage.get("model") or ""), usage))
    except (AttributeError, TypeError, ValueError, ArithmeticError):
        return single
    totals = [sum(entry[2][name] for entry in entries) for name in ("tokens_in", "tokens_out")]
    cost = sum((entry[2]["cost"] for entry in entries), Decimal(0))
    if totals != [step.tokens_in, step.tokens_out] or cost != step.cost:
        return single
    return entries


def fact_attempt_spent(*, step: Step, usage: Any, routing: Any) -> dict[str, Any]:
    """An attempt of ``step`` failed and the step will run again: bill what the attempt spent
    (``usage``, a ``Usage``: model, tokens, cost; ``routing``, its agent's stage entries) to
    its models now, as ``step_usage_by_model`` would for a finished step. The step's own row
    keeps only its last attempt's usage (billed by ``fact_step_finished`` when it ends), so
    each attempt is billed once. Returns the usage as the step's history records it."""
    details = step.input if isinstance(step.input, dict) else {}
    attempt = Step(
        run_id=step.run_id,
        input={"agent_spec": details.get("agent_spec"), "routing": routing},
        model=usage.model,
        tokens_in=usage.tokens_in,
        tokens_out=usage.tokens_out,
        cost=usage.cost,
    )
    if usage.tokens_in or usage.tokens_out or usage.cost:
        _record(*[(step.run_id, Grain.USAGE, *entry) for entry in step_usage_by_model(attempt)])
    return {
        "model": usage.model,
        "tokens_in": usage.tokens_in,
        "tokens_out": usage.tokens_out,
        "cost": str(usage.cost),
    }


def fact_run_finished(run: Run) -> None:
    """A run reached a terminal status: counts by status, end-to-end duration (from its
    creation, so time queued counts), and the model cost its steps added up to."""
    fields: dict[str, Any] = {"n": 1}
    status_field = _STATUS_FIELD.get(str(run.status))
    if status_field:
        fields[status_field] = 1
    _duration(fields, _ms(run.created_at, run.finished_at))
    fields |= {"tokens_in": run.tokens_in, "tokens_out": run.tokens_out, "cost": run.cost}
    _record((run.id, Grain.RUN, "", "", fields))


def _approval_node(approval: Approval) -> str:
    return str(Step.objects.filter(id=approval.step_id).values_list("node_id", flat=True).first())


def fact_approval_decided(approval: Approval) -> None:
    """An approval left ``pending``: how it ended, its review time as the decision stored it
    (``flows.approvals.review``: ``reviewed`` counts decisions measured in the inbox,
    ``reported`` those whose API client reported it; unmeasured ones add no time), the edit
    distance, and the rejection reason."""
    resolution = str(approval.resolution)
    fields: dict[str, Any] = {"n": 1}
    decided = _RESOLUTION_FIELD.get(approval.resolution)  # type: ignore[call-overload]
    if decided:
        fields[decided] = 1
    if resolution in HUMAN_RESOLUTIONS:
        counted = _REVIEW_FIELD.get(approval.review_source)
        if counted and approval.review_ms is not None:
            fields["review_ms"] = approval.review_ms
            fields[counted] = 1
    if approval.edit_distance:
        fields["edit_distance"] = approval.edit_distance
    node = _approval_node(approval)
    facts = [(approval.run_id, Grain.APPROVAL, node, approval.agent, fields)]
    reason = " ".join((approval.decision_reason or "").split())[:REASON_MAX]
    if resolution in {"rejected", "sent_back", "auto_rejected"} and reason:
        facts.append((approval.run_id, Grain.REASON, node, reason, {"n": 1}))
    _record(*facts)


def fact_approval_escalated(approval: Approval) -> None:
    """A pending approval was escalated (its deadline passed with ``on_deadline: escalate``)."""
    _record(
        (
            approval.run_id,
            Grain.APPROVAL,
            _approval_node(approval),
            approval.agent,
            {"escalations": 1},
        )
    )


def fact_outcome_recorded(outcome: Outcome) -> None:
    """An outcome event attached to a run (possibly long after it ended): attributed to the
    run's flow, version and day. ``ok`` marks the run's first event of this metric, so the
    rollups count distinct runs that reached an outcome as well as events. Locks the run row:
    two outcomes of the same metric for the same run arriving at once cannot both be first."""
    if outcome.run_id is None:
        return
    Run.objects.select_for_update().filter(id=outcome.run_id).values_list("id").first()
    first = (
        not Outcome.objects.filter(run_id=outcome.run_id, metric=outcome.metric)
        .exclude(id=outcome.id)
        .exists()
    )
    measures = {"n": 1, "ok": 1 if first else 0, "value": outcome.value}
    _record((outcome.run_id, Grain.OUTCOME, outcome.metric, "", measures))
