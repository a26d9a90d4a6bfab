"""Every (from, to) pair of the run, step and approval state machines, walked exhaustively."""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum

import pytest

from flows.states import (
    APPROVAL_TERMINAL,
    RUN_TERMINAL,
    STEP_TERMINAL,
    ApprovalStatus,
    IllegalTransition,
    RunStatus,
    StepStatus,
    check_approval_transition,
    check_run_transition,
    check_step_transition,
)

R, S, A = RunStatus, StepStatus, ApprovalStatus

# The allowed transitions, written out here independently of flows/states.py so that a change
# to the tables has to be made on purpose in both places.
RUN_ALLOWED: set[tuple[RunStatus | None, RunStatus]] = {
    (None, R.QUEUED),
    (R.QUEUED, R.RUNNING),
    (R.QUEUED, R.PAUSED),
    (R.QUEUED, R.FAILED),
    (R.QUEUED, R.CANCELLED),
    (R.RUNNING, R.WAITING_APPROVAL),
    (R.RUNNING, R.PAUSED),
    (R.RUNNING, R.SUCCEEDED),
    (R.RUNNING, R.FAILED),
    (R.RUNNING, R.CANCELLED),
    (R.WAITING_APPROVAL, R.RUNNING),
    (R.WAITING_APPROVAL, R.PAUSED),
    (R.WAITING_APPROVAL, R.SUCCEEDED),
    (R.WAITING_APPROVAL, R.FAILED),
    (R.WAITING_APPROVAL, R.CANCELLED),
    (R.PAUSED, R.QUEUED),
    (R.PAUSED, R.RUNNING),
    (R.PAUSED, R.WAITING_APPROVAL),
    (R.PAUSED, R.FAILED),
    (R.PAUSED, R.CANCELLED),
}
STEP_ALLOWED: set[tuple[StepStatus | None, StepStatus]] = {
    (None, S.QUEUED),
    (None, S.RUNNING),
    (None, S.SKIPPED),
    (None, S.SUCCEEDED),
    (S.QUEUED, S.RUNNING),
    (S.QUEUED, S.FAILED),
    (S.QUEUED, S.SUCCEEDED),  # attempts used up before a claim, on_error: continue
    (S.QUEUED, S.CANCELLED),
    (S.RUNNING, S.SUCCEEDED),
    (S.RUNNING, S.FAILED),
    (S.RUNNING, S.WAITING),
    (S.RUNNING, S.QUEUED),
    (S.RUNNING, S.CANCELLED),
    (S.WAITING, S.SUCCEEDED),
    (S.WAITING, S.FAILED),
    (S.WAITING, S.QUEUED),  # a policy park approved: the step runs again
    (S.WAITING, S.CANCELLED),
}
APPROVAL_ALLOWED: set[tuple[ApprovalStatus | None, ApprovalStatus]] = {
    (None, A.PENDING),
    (A.PENDING, A.APPROVED),
    (A.PENDING, A.REJECTED),
    (A.PENDING, A.CANCELLED),
}


def _every_pair[E: StrEnum](
    enum: type[E], allowed: set[tuple[E | None, E]], check: Callable[[E | None, E], None]
) -> list[object]:
    return [
        pytest.param(check, src, dst, (src, dst) in allowed, id=f"{src or 'none'}->{dst}")
        for src in [None, *enum]
        for dst in enum
    ]


PAIRS = [
    *_every_pair(RunStatus, RUN_ALLOWED, check_run_transition),
    *_every_pair(StepStatus, STEP_ALLOWED, check_step_transition),
    *_every_pair(ApprovalStatus, APPROVAL_ALLOWED, check_approval_transition),
]


@pytest.mark.parametrize(("check", "src", "dst", "allowed"), PAIRS)
def test_every_transition_is_allowed_or_refused_as_the_table_says(
    check: Callable[[StrEnum | None, StrEnum], None],
    src: StrEnum | None,
    dst: StrEnum,
    allowed: bool,
) -> None:
    if allowed:
        check(src, dst)
    else:
        with pytest.raises(IllegalTransition) as refused:
            check(src, dst)
        assert str(dst) in str(refused.value)


@pytest.mark.parametrize(
    ("enum", "terminal", "check"),
    [
        (RunStatus, RUN_TERMINAL, check_run_transition),
        (StepStatus, STEP_TERMINAL, check_step_transition),
        (ApprovalStatus, APPROVAL_TERMINAL, check_approval_transition),
    ],
    ids=["run", "step", "approval"],
)
def test_terminal_states_have_no_exits(
    enum: type[StrEnum], terminal: frozenset[StrEnum], check: Callable[[StrEnum, StrEnum], None]
) -> None:
    assert terminal, "every machine has terminal states"
    for src in terminal:
        for dst in enum:
            with pytest.raises(IllegalTransition):
                check(src, dst)


def test_terminal_sets_are_exactly_the_states_without_exits() -> None:
    assert {s for s in RunStatus if not any((s, d) in RUN_ALLOWED for d in RunStatus)} == set(
        RUN_TERMINAL
    )
    assert {s for s in StepStatus if not any((s, d) in STEP_ALLOWED for d in StepStatus)} == set(
        STEP_TERMINAL
    )
    assert {
        s for s in ApprovalStatus if not any((s, d) in APPROVAL_ALLOWED for d in ApprovalStatus)
    } == set(APPROVAL_TERMINAL)
