"""Where the engine calls outward: hooks it owns, which the modules above it fill in.

The engine (``flows.engine``) never imports the kill switch, approvals, triggers or the Celery
tasks; they import the engine. Where the engine needs them it calls ``HOOKS.<name>``, and
``flows.apps.FlowsConfig.ready`` registers their implementations at start-up (as
``controlroom.live.register`` does for the websocket's topics). ``import-linter`` contracts in
``pyproject.toml`` (run by ``make lint``) keep it that way.

Each hook has a default: what the engine does with nothing registered, chosen so that nothing
is lost — state is in PostgreSQL, and what is not handed over stays for the reconciler.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from flows.models import Run, Step


@dataclass(frozen=True)
class Sampling:
    """Earned autonomy's answer for one new approval item (``approval_sampling``)."""

    review: bool  # this item goes before a person
    one_in: int


class SamplingHook(Protocol):
    def __call__(self, *, flow_id: int, node_id: str, agent: str) -> Sampling | None: ...


class RunFinishedHook(Protocol):
    def __call__(self, *, run_id: uuid.UUID) -> None: ...


def _nothing(*args: Any, **kwargs: Any) -> None:
    return None


def _cannot_hold(run: Run, activations: list[dict[str, Any]]) -> None:
    raise LookupError(
        f"run {run.id} is paused but nothing is registered to hold its work "
        "(flows.killswitch registers it): refusing rather than losing it"
    )


def _none_due() -> int:
    return 0


@dataclass
class Hooks:
    """The registered implementations; ``register`` fills them in."""

    #: ``Advance.start``, in the new run's creating transaction: pause the run if its flow is
    #: switched off (``flows.killswitch``). Default: nothing is switched off.
    run_created: Callable[[Run], None] = _nothing
    #: ``Advance.drain`` on a paused run (run lock held): keep the activations that became
    #: ready, for ``Advance.release``. Default: refuse (raise), so the transaction rolls back.
    run_hold: Callable[[Run, list[dict[str, Any]]], None] = _cannot_hold
    #: ``runner.step_claim`` found a queued step it could not claim: pause its run if the kill
    #: switch is why. Default: nothing (the step stays queued).
    claim_refused: Callable[[Step], None] = _nothing
    #: Publish a queued step to the workers once the transaction commits (``flows.tasks``).
    #: Default: nothing (the step stays queued; the reconciler re-publishes it).
    step_publish: Callable[[Step], None] = _nothing
    #: Cancel a child run in its own transaction, later (``flows.tasks``). Default: nothing.
    run_cancel_later: Callable[[uuid.UUID], None] = _nothing
    #: After a run reached a terminal state and that committed, in order (its trace span,
    #: event triggers). Default: none.
    run_finished: tuple[RunFinishedHook, ...] = field(default_factory=tuple)
    #: A new approval item: None when earned autonomy does not apply, else whether a person
    #: reviews this one (``flows.approvals.autonomy``). Default: None (every item is reviewed).
    approval_sampling: SamplingHook = _nothing
    #: The reconciler's pass over approvals whose reminder or deadline came
    #: (``flows.approvals.deadlines``); how many were acted on. Default: none.
    approvals_due: Callable[[], int] = _none_due
    #: The reconciler's catch-up of run and outcome events whose after-commit hand-off was
    #: lost (``flows.triggers.events``); how many runs it started. Default: none.
    events_catch_up: Callable[[], int] = _none_due


HOOKS = Hooks()


def register(
    *,
    run_created: Callable[[Run], None] | None = None,
    run_hold: Callable[[Run, list[dict[str, Any]]], None] | None = None,
    claim_refused: Callable[[Step], None] | None = None,
    step_publish: Callable[[Step], None] | None = None,
    run_cancel_later: Callable[[uuid.UUID], None] | None = None,
    run_finished: RunFinishedHook | None = None,
    approval_sampling: SamplingHook | None = None,
    approvals_due: Callable[[], int] | None = None,
    events_catch_up: Callable[[], int] | None = None,
) -> None:
    """Register implementations (at start-up). A hook given again replaces the earlier one,
    except ``run_finished``, whose listeners are called in the order registered. Idempotent."""
    given = {
        "run_created": run_created,
        "run_hold": run_hold,
        "claim_refused": claim_refused,
        "step_publish": step_publish,
        "run_cancel_later": run_cancel_later,
        "approval_sampling": approval_sampling,
        "approvals_due": approvals_due,
        "events_catch_up": events_catch_up,
    }
    for name, implementation in given.items():
        if implementation is not None:
            setattr(HOOKS, name, implementation)
    if run_finished is not None and run_finished not in HOOKS.run_finished:
        HOOKS.run_finished = (*HOOKS.run_finished, run_finished)
