"""Throwing the kill switch and what it does to runs: pause or resume one flow or everything
(each throw audited), pause or resume one run, and the engine hooks (registered by
``flows.apps``) that hold what a paused run would start. The guarantees are listed in
``flows.killswitch``."""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from agents.audit import audit_record
from flows.engine import transitions
from flows.engine.scheduler import Advance, enqueue_step
from flows.killswitch import selectors
from flows.killswitch.models import HeldActivation, KillSwitch
from flows.killswitch.selectors import switch_key
from flows.models import Flow, Run, Step
from flows.states import RUN_TERMINAL, RunStatus, StepStatus

logger = logging.getLogger(__name__)

MAX_REASON_CHARS = 500


class KillSwitchError(Exception):
    """A pause or resume that cannot be done as asked (a 4xx for the caller)."""


# --- throwing the switch ----------------------------------------------------------------------


def _throw(*, flow: Flow | None, active: bool, user: Any, reason: str) -> bool:
    """Set the switch; False (and nothing audited) when it already was in that position."""
    if len(reason) > MAX_REASON_CHARS:
        raise KillSwitchError(f"the reason is at most {MAX_REASON_CHARS} characters")
    actor = user if getattr(user, "is_authenticated", False) else None
    with transaction.atomic():
        row, _ = KillSwitch.objects.select_for_update().get_or_create(
            key=switch_key(flow), defaults={"flow": flow}
        )
        if row.active == active:
            return False
        row.active = active
        row.reason = reason if active else ""
        row.changed_by = actor
        row.changed_at = timezone.now()
        row.save()
        audit_record(
            kind="config",
            action=("flow" if flow else "global") + (".paused" if active else ".resumed"),
            actor=actor,
            reason=reason,
            subject=flow.slug if flow else "everything",
            flow_slug=flow.slug if flow else "",
        )
    return True


def _active_runs(flow: Flow | None) -> list[Any]:
    runs = Run.objects.exclude(status__in=RUN_TERMINAL)
    if flow is not None:
        runs = runs.filter(flow=flow)
    return list(runs.order_by("created_at").values_list("id", flat=True))


def flow_pause(*, flow: Flow, user: Any = None, reason: str = "") -> int:
    """Pause ``flow``: from now on none of its steps is claimed; its active runs are paused.
    Returns how many runs were paused (0 if it was paused already). Idempotent."""
    if not _throw(flow=flow, active=True, user=user, reason=reason):
        return 0
    return _sweep_pause(flow, reason or f"flow {flow.slug} paused")


def flow_resume(*, flow: Flow, user: Any = None) -> int:
    """Resume ``flow`` (its runs stay paused while everything is paused). Returns how many
    runs were resumed. Idempotent."""
    if not _throw(flow=flow, active=False, user=user, reason=""):
        return 0
    return _sweep_resume(flow)


def global_pause(*, user: Any = None, reason: str = "") -> int:
    """Pause everything: every flow's active runs, and nothing claimed anywhere."""
    if not _throw(flow=None, active=True, user=user, reason=reason):
        return 0
    return _sweep_pause(None, reason or "everything paused")


def global_resume(*, user: Any = None) -> int:
    """Resume everything, except flows paused on their own."""
    if not _throw(flow=None, active=False, user=user, reason=""):
        return 0
    return _sweep_resume(None)


def _sweep_pause(flow: Flow | None, reason: str) -> int:
    # One transaction per run: the engine locks a child run before its parent when a subflow
    # finishes, so locking several runs in one transaction here could deadlock with it.
    return sum(1 for run_id in _active_runs(flow) if run_pause(run_id=run_id, reason=reason))


def _sweep_resume(flow: Flow | None) -> int:
    return sum(1 for run_id in _active_runs(flow) if run_resume(run_id=run_id))


# --- one run ----------------------------------------------------------------------------------


def run_pause(*, run_id: Any, reason: str) -> bool:
    """Move one active run to ``paused`` under its row lock. False if it ended or was paused."""
    with transaction.atomic():
        run = Run.objects.select_for_update().get(id=run_id)
        if run.status in RUN_TERMINAL or run.status == RunStatus.PAUSED:
            return False
        return transitions.run_move(run, RunStatus.PAUSED, data={"reason": reason})


def run_resume(*, run_id: Any) -> bool:
    """Resume one paused run where it stopped, unless a switch still holds its flow: start
    what was held, publish its queued steps again, settle its status. For an active run
    whose queued steps were refused during the pause, only the publishing. Idempotent."""
    with transaction.atomic():
        advance = Advance.open(run_id)
        run = advance.run
        if run.status in RUN_TERMINAL or selectors.engaged(flow_id=run.flow_id):
            return False
        _republish_queued(run)
        if run.status != RunStatus.PAUSED:
            return False
        held = list(HeldActivation.objects.filter(run=run).order_by("id"))
        HeldActivation.objects.filter(id__in=[item.id for item in held]).delete()
        transitions.run_move(run, RunStatus.RUNNING, data={"resumed_held": len(held)})
        advance.release(
            [
                {
                    "node_id": item.node_id,
                    "scope": item.scope,
                    "previous_node": item.previous_node,
                    "extra_input": item.extra_input,
                }
                for item in held
            ]
        )
    return True


def _republish_queued(run: Run) -> None:
    now = timezone.now()
    due = Q(due_at__isnull=True) | Q(due_at__lte=now)
    for step in (
        Step.objects.select_related("run__version")
        .filter(run=run, status=StepStatus.QUEUED)
        .filter(due)
        .order_by("id")
    ):
        Step.objects.filter(id=step.id).update(enqueued_at=now)
        enqueue_step(step)


# --- engine hooks (registered with ``flows.engine.hooks`` by ``flows.apps``) ----------------------


def hold(run: Run, activations: list[dict[str, Any]]) -> None:
    """``Advance.drain`` on a paused run (run lock held): keep what became ready."""
    if not activations:
        return
    HeldActivation.objects.bulk_create(
        [
            HeldActivation(
                run=run,
                node_id=item["node_id"],
                scope=item["scope"],
                previous_node=item.get("previous_node"),
                extra_input=item.get("extra_input"),
            )
            for item in activations
        ]
    )
    transitions.run_note(run, "run.held", {"nodes": [item["node_id"] for item in activations][:50]})


def run_created(run: Run) -> None:
    """``Advance.start`` (a new run, in its creating transaction): a run of a switched-off
    flow is paused before it starts, so its entry nodes are held."""
    if selectors.engaged(flow_id=run.flow_id):
        transitions.run_move(run, RunStatus.PAUSED, data={"reason": "started while paused"})


def claim_refused(step: Step) -> None:
    """``step_claim`` found nothing to claim: if that is because the switch is off for this
    run's flow, pause the run (it started while the switch was being thrown)."""
    flow_id = Run.objects.filter(id=step.run_id).values_list("flow_id", flat=True).first()
    if flow_id is None or not selectors.engaged(flow_id=flow_id):
        return
    run_pause(run_id=step.run_id, reason="paused while its step waited to be claimed")
