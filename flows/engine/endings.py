"""A run's end: cancelling what it still has active, and what follows once that commits.

``cancel_active`` runs inside the transaction that ends the run (the caller holds the run
lock: ``Advance.finish``, ``runs.run_cancel``); ``run_finished_after_commit`` runs after it
commits. Child runs are cancelled later, in their own transactions, through the
``run_cancel_later`` hook.
"""

from __future__ import annotations

import functools
import logging
import uuid

from django.db import transaction

from flows.engine import transitions
from flows.engine.hooks import HOOKS
from flows.models import Approval, Run, Step
from flows.states import RUN_TERMINAL, STEP_ACTIVE, ApprovalStatus, StepStatus

logger = logging.getLogger(__name__)


def cancel_active(run: Run, *, reason: str) -> None:
    """Cancel a run's active steps and pending approvals (caller holds the run lock)."""
    for step in Step.objects.filter(run=run, status__in=STEP_ACTIVE):
        transitions.step_move(step, StepStatus.CANCELLED, data={"reason": reason})
    for approval in Approval.objects.filter(run=run, status=ApprovalStatus.PENDING):
        transitions.approval_move(
            approval,
            ApprovalStatus.CANCELLED,
            decision_reason=reason,
            resolution=Approval.Resolution.CANCELLED,
            data={"resolution": Approval.Resolution.CANCELLED, "reason": reason},
        )
    for child in Run.objects.filter(parent_step__run=run).exclude(status__in=RUN_TERMINAL):
        # Children are locked after the parent here but before it when they finish, so they
        # are cancelled in their own transaction after this one commits: no lock-order cycle.
        transaction.on_commit(functools.partial(_cancel_later, child.id))


def _cancel_later(run_id: uuid.UUID) -> None:
    try:
        HOOKS.run_cancel_later(run_id)
    except Exception:
        logger.warning("could not queue cancellation of child run %s", run_id, exc_info=True)


def run_finished_after_commit(run_id: uuid.UUID) -> None:
    """What follows a run reaching a terminal state, once that commits (every terminal move
    calls it: ``Advance.finish`` and ``runs.run_cancel``): the ``run_finished`` hooks in the
    order registered — the run's trace span (when tracing is on), then event triggers
    watching its flow."""
    for listener in HOOKS.run_finished:
        listener(run_id=run_id)
