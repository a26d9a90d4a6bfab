"""Run, step and approval states, and the one table of legal transitions for each.

Pure module: no ORM, no I/O. ``flows.engine.transitions`` is the only writer of ``status``
and asks this module before every write.
"""

from __future__ import annotations

from enum import StrEnum


class RunStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    WAITING_APPROVAL = "waiting_approval"
    PAUSED = "paused"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


class StepStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    WAITING = "waiting"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"


class ApprovalStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    CANCELLED = "cancelled"


class ErrorClass(StrEnum):
    """Why a step or a run failed (``Step.error_class``, ``Run.error_class``).

    ``domain``: bad config or input, a refused request — retrying cannot help. ``transient``:
    a timeout, a 5xx, a lost connection — retried by the step's policy first. ``crash``: an
    unclassified exception or a worker lost with its attempts used up. ``rejected``: a person
    or a deadline rejected an approval (a node's, a policy gate's, a loop's escalation) and
    nothing continued the run past it (``flows.engine.nodes.approval``)."""

    DOMAIN = "domain"
    TRANSIENT = "transient"
    CRASH = "crash"
    REJECTED = "rejected"


class IllegalTransition(Exception):
    """A state change the tables below do not allow."""


RUN_TERMINAL = frozenset({RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED})
RUN_ACTIVE = frozenset(set(RunStatus) - RUN_TERMINAL)
STEP_TERMINAL = frozenset(
    {StepStatus.SUCCEEDED, StepStatus.FAILED, StepStatus.SKIPPED, StepStatus.CANCELLED}
)
STEP_ACTIVE = frozenset(set(StepStatus) - STEP_TERMINAL)
APPROVAL_TERMINAL = frozenset(
    {ApprovalStatus.APPROVED, ApprovalStatus.REJECTED, ApprovalStatus.CANCELLED}
)

_R = RunStatus
RUN_TRANSITIONS: dict[RunStatus | None, frozenset[RunStatus]] = {
    None: frozenset({_R.QUEUED}),
    _R.QUEUED: frozenset({_R.RUNNING, _R.PAUSED, _R.FAILED, _R.CANCELLED}),
    _R.RUNNING: frozenset({_R.WAITING_APPROVAL, _R.PAUSED, _R.SUCCEEDED, _R.FAILED, _R.CANCELLED}),
    _R.WAITING_APPROVAL: frozenset({_R.RUNNING, _R.PAUSED, _R.SUCCEEDED, _R.FAILED, _R.CANCELLED}),
    # Resuming a paused run puts it back where its steps say it is.
    _R.PAUSED: frozenset({_R.QUEUED, _R.RUNNING, _R.WAITING_APPROVAL, _R.FAILED, _R.CANCELLED}),
    _R.SUCCEEDED: frozenset(),
    _R.FAILED: frozenset(),
    _R.CANCELLED: frozenset(),
}

_S = StepStatus
STEP_TRANSITIONS: dict[StepStatus | None, frozenset[StepStatus]] = {
    # A step is born queued (crosses the queue), running (inline control node), skipped (dead
    # path) or succeeded (an output reused by a retry run).
    None: frozenset({_S.QUEUED, _S.RUNNING, _S.SKIPPED, _S.SUCCEEDED}),
    # queued -> failed: attempts exhausted before a claim (a step that keeps killing workers);
    # queued -> succeeded: the same, on a node with ``on_error: continue``.
    _S.QUEUED: frozenset({_S.RUNNING, _S.FAILED, _S.SUCCEEDED, _S.CANCELLED}),
    # running -> queued: a transient failure or a lapsed heartbeat, retried by policy.
    _S.RUNNING: frozenset({_S.SUCCEEDED, _S.FAILED, _S.WAITING, _S.QUEUED, _S.CANCELLED}),
    # waiting -> queued: a step a policy parked runs again once a person approved the call.
    _S.WAITING: frozenset({_S.SUCCEEDED, _S.FAILED, _S.QUEUED, _S.CANCELLED}),
    _S.SUCCEEDED: frozenset(),
    _S.FAILED: frozenset(),
    _S.SKIPPED: frozenset(),
    _S.CANCELLED: frozenset(),
}

_A = ApprovalStatus
APPROVAL_TRANSITIONS: dict[ApprovalStatus | None, frozenset[ApprovalStatus]] = {
    None: frozenset({_A.PENDING}),
    _A.PENDING: frozenset({_A.APPROVED, _A.REJECTED, _A.CANCELLED}),
    _A.APPROVED: frozenset(),
    _A.REJECTED: frozenset(),
    _A.CANCELLED: frozenset(),
}


def _check[S: StrEnum](
    table: dict[S | None, frozenset[S]], kind: str, src: S | None, dst: S
) -> None:
    if dst not in table.get(src, frozenset()):
        raise IllegalTransition(f"{kind} cannot go from {src or 'nothing'} to {dst}")


def check_run_transition(src: RunStatus | None, dst: RunStatus) -> None:
    _check(RUN_TRANSITIONS, "run", src, dst)


def check_step_transition(src: StepStatus | None, dst: StepStatus) -> None:
    _check(STEP_TRANSITIONS, "step", src, dst)


def check_approval_transition(src: ApprovalStatus | None, dst: ApprovalStatus) -> None:
    _check(APPROVAL_TRANSITIONS, "approval", src, dst)


def choices(enum: type[StrEnum]) -> list[tuple[str, str]]:
    """Django field choices for one of the enums above."""
    return [(member.value, member.value.replace("_", " ")) for member in enum]
