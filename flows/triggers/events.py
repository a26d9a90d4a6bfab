"""Event triggers: a flow starts when another flow's run finishes, when an outcome is
recorded, or when an outcome metric's running total crosses a threshold.

The engine (its ``run_finished`` hook, ``flows.engine.hooks``) and ``outcome_record`` call
``run_finished`` / ``outcome_recorded`` after their transaction commits; this module turns the
event into ``run_start`` calls for every matching trigger. Each started run's idempotency key
names the source event, so a repeated event starts nothing new — which is also what makes the
hand-off durable: a process that dies between the commit and the hook loses nothing, because
the reconciler's ``catch_up`` looks for recent events whose watching flows have no run with
that key yet and starts them. Chains are bounded: a run started by an event carries its chain
depth in its history, and past ``MAX_CHAIN_DEPTH`` nothing more is started (A -> B -> A cannot
spin forever).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db.models import CharField, Exists, OuterRef, Sum, Value
from django.db.models.functions import Cast, Concat
from django.utils import timezone

from flows.engine import runs, transitions
from flows.models import Outcome, Run, RunEvent, Trigger
from flows.triggers import live

logger = logging.getLogger(__name__)
MAX_CHAIN_DEPTH = 10
#: ``catch_up`` leaves events this young to the after-commit hooks...
CATCH_UP_GRACE = timedelta(seconds=10)
#: ...and gives up on events older than this (they could not start; each try was logged).
CATCH_UP_WINDOW = timedelta(hours=1)


def _depth(run: Run) -> int:
    note = RunEvent.objects.filter(run=run, kind="trigger.event").order_by("id").first()
    return int((note.data or {}).get("depth", 0)) if note is not None else 0


def _start(
    trigger: Trigger, *, event: dict[str, Any], key: str, depth: int, quiet: bool = False
) -> Run | None:
    log = logger.debug if quiet else logger.warning
    if depth > MAX_CHAIN_DEPTH:
        log("event chain deeper than %s; not starting %s", MAX_CHAIN_DEPTH, trigger)
        return None
    data = {**(trigger.config.get("input") or {}), "event": event}
    try:
        run, created = runs.run_start(
            flow=trigger.flow,
            input=data,
            version=live.trigger_version_get(flow=trigger.flow),
            idempotency_key=key,
            defer_publish=True,
        )
    except (runs.RunError, live.NotLive) as exc:
        log("event trigger of %s could not start a run: %s", trigger.flow, exc)
        return None
    if created:
        transitions.run_note(run, "trigger.event", {**event, "depth": depth})
    return run


def run_finished(*, run_id: Any) -> list[Run]:
    """Start the flows whose trigger watches this run's flow for this terminal status."""
    run = Run.objects.select_related("flow").filter(id=run_id).first()
    if run is None:
        return []
    triggers = Trigger.objects.select_related("flow").filter(
        kind="event", enabled=True, config__on="run.finished", config__flow=run.flow.slug
    )
    started = []
    for trigger in triggers:
        if run.status not in _watched_statuses(trigger):
            continue
        new = _start_for_run(trigger, run)
        if new is not None:
            started.append(new)
    return started


def _watched_statuses(trigger: Trigger) -> list[str]:
    return list(trigger.config.get("status") or ["succeeded"])


def _start_for_run(trigger: Trigger, run: Run, *, quiet: bool = False) -> Run | None:
    event = {
        "type": "run.finished",
        "run_id": str(run.id),
        "flow": run.flow.slug,
        "status": run.status,
        "subject": run.subject,
        "output": run.output,
    }
    return _start(
        trigger, event=event, key=f"event:run:{run.id}", depth=_depth(run) + 1, quiet=quiet
    )


def outcome_recorded(*, outcome_id: int) -> list[Run]:
    """Start the flows whose trigger watches this metric: on every outcome, or (with a
    ``threshold``) once when the metric's running total first reaches the threshold."""
    outcome = Outcome.objects.select_related("flow", "run").filter(id=outcome_id).first()
    if outcome is None:
        return []
    triggers = Trigger.objects.select_related("flow").filter(
        kind="event", enabled=True, config__on="outcome.recorded", config__metric=outcome.metric
    )
    started = []
    for trigger in triggers:
        new = _start_for_outcome(trigger, outcome)
        if new is not None:
            started.append(new)
    return started


def _start_for_outcome(trigger: Trigger, outcome: Outcome, *, quiet: bool = False) -> Run | None:
    watched = trigger.config.get("flow")
    if watched and (outcome.flow is None or outcome.flow.slug != watched):
        return None
    if "threshold" in trigger.config and not _crossed(outcome, trigger.config):
        return None
    event = {
        "type": "outcome.recorded",
        "outcome_id": outcome.id,
        "metric": outcome.metric,
        "value": str(outcome.value),
        "subject": outcome.subject,
        "flow": outcome.flow.slug if outcome.flow else None,
        "run_id": str(outcome.run_id) if outcome.run_id else None,
    }
    depth = _depth(outcome.run) + 1 if outcome.run is not None else 1
    return _start(trigger, event=event, key=f"event:outcome:{outcome.id}", depth=depth, quiet=quiet)


def _crossed(outcome: Outcome, block: dict[str, Any]) -> bool:
    """Whether this outcome took the metric's total from below the threshold to at or above
    it (totals in recording order, within the watched flow if one is named)."""
    threshold = Decimal(str(block["threshold"]))
    same = Outcome.objects.filter(metric=outcome.metric)
    if block.get("flow"):
        same = same.filter(flow__slug=block["flow"])
    before = same.filter(id__lt=outcome.id).aggregate(total=Sum("value"))["total"] or Decimal(0)
    return before < threshold <= before + outcome.value


def catch_up(*, now: datetime | None = None) -> int:
    """Start what the after-commit hooks missed (the process died between a run's commit and
    its hook, or the hook failed): recent events — runs finished, outcomes recorded between
    ``CATCH_UP_WINDOW`` and ``CATCH_UP_GRACE`` ago — whose watching flow has no run with the
    event's idempotency key yet. One anti-join per enabled event trigger; returns how many
    runs it started. Events that cannot start (chain too deep, no live version) are retried
    quietly until they leave the window."""
    now = now or timezone.now()
    since, until = now - CATCH_UP_WINDOW, now - CATCH_UP_GRACE
    started = 0
    for trigger in Trigger.objects.select_related("flow").filter(kind="event", enabled=True):
        on = trigger.config.get("on")
        if on == "run.finished":
            keyed = Run.objects.filter(
                flow=trigger.flow,
                idempotency_key=Concat(Value("event:run:"), Cast(OuterRef("id"), CharField())),
            )
            missed = (
                Run.objects.select_related("flow")
                .filter(
                    flow__slug=trigger.config.get("flow"),
                    status__in=_watched_statuses(trigger),
                    finished_at__gte=since,
                    finished_at__lt=until,
                )
                .exclude(Exists(keyed))
            )
            started += sum(_start_for_run(trigger, run, quiet=True) is not None for run in missed)
        elif on == "outcome.recorded":
            keyed = Run.objects.filter(
                flow=trigger.flow,
                idempotency_key=Concat(Value("event:outcome:"), Cast(OuterRef("id"), CharField())),
            )
            missed_outcomes = (
                Outcome.objects.select_related("flow", "run")
                .filter(
                    metric=trigger.config.get("metric"), created_at__gte=since, created_at__lt=until
                )
                .exclude(Exists(keyed))
            )
            started += sum(
                _start_for_outcome(trigger, outcome, quiet=True) is not None
                for outcome in missed_outcomes
            )
    if started:
        logger.warning("event triggers: started %s run(s) the after-commit hooks missed", started)
    return started


def run_finished_after_commit(run_id: Any) -> None:
    """The engine's hook: never let a trigger failure surface in the step that ended a run."""
    try:
        run_finished(run_id=run_id)
    except Exception:
        logger.exception("event triggers for run %s failed", run_id)


def outcome_recorded_after_commit(outcome_id: int) -> None:
    try:
        outcome_recorded(outcome_id=outcome_id)
    except Exception:
        logger.exception("event triggers for outcome %s failed", outcome_id)
