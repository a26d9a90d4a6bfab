"""Deciding what runs next: the unit of engine work on one locked run (``Advance``).

Everything here runs inside one database transaction that holds the run's row lock
(``Advance.open``). The lock is what makes fan-in safe: two branches finishing at once would
otherwise both see "the other branch is not done" (or both see "all done") and start a join
twice or never. Cheap control nodes run inline in the same transaction; nodes that wait on the
outside world are inserted ``queued`` and published to Celery after commit.

``Advance`` owns the unit's state (the run, its graph and outputs, the activations still to
start) and its course: start, drain, a node's outcome, success, and the run's end. Its parts,
each a module below this one that works on the ``Advance`` it is handed: ``activation``
(creating a node's step), ``edges`` (signals, fan-in and dead paths), ``failures`` (a step's
failure path), ``waits`` (parking and resuming), ``publish`` (handing queued steps over) and
``endings`` (cancelling what a run leaves active, and what follows its end).

What lies outside the engine (the kill switch, Celery, tracing, event triggers) is reached
through ``flows.engine.hooks``, never imported.
"""

from __future__ import annotations

import functools
from collections import deque
from typing import Any

from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from flows import graph as graphs
from flows.engine import claims, context, failures, transitions, waits
from flows.engine.activation import Activation, activate
from flows.engine.edges import propagate
from flows.engine.endings import cancel_active, run_finished_after_commit
from flows.engine.hooks import HOOKS
from flows.engine.nodes import REGISTRY
from flows.engine.nodes.base import Done, NodeContext, Requeue, StepError, Usage, Wait
from flows.engine.publish import enqueue_step, publish_deferred
from flows.models import Run, Step
from flows.states import RUN_TERMINAL, STEP_ACTIVE, ErrorClass, RunStatus, StepStatus

__all__ = [
    "Advance",
    "cancel_active",
    "enqueue_step",
    "publish_deferred",
    "run_finished_after_commit",
    "subflow_done",
]


class Advance:
    """One unit of engine work on one locked run."""

    def __init__(self, run: Run) -> None:
        self.run = claims.attach_version(run)
        self.graph = graphs.for_version(run.version_id, run.version.document)
        self._outputs: context.Outputs | None = None
        self._work: deque[Activation] = deque()
        # The run's policies; loaded at the first activation unless the caller has them.
        self.policies: list[Any] | None = None
        # A step was activated (queued or running) in this unit: the run has work in flight.
        self._spawned = False

    @classmethod
    def open(cls, run_id: Any, *, usage: Any = None) -> Advance:
        """Lock the run row and return an ``Advance`` for it (inside ``transaction.atomic``).

        Only the run row: its version is immutable and cached per process
        (``claims.attach_version``), and a lock on it would make every new run of the flow
        wait on this run's step. With ``usage`` (a step's tokens and cost), the lock is the
        update that adds them to the run's totals: one statement either way."""
        if usage is not None and (usage.tokens_in or usage.tokens_out or usage.cost):
            return cls(_lock_adding(run_id, usage))
        return cls(Run.objects.select_for_update().get(id=run_id))

    # --- what templates see -----------------------------------------------------------------
    @property
    def outputs(self) -> context.Outputs:
        if self._outputs is None:
            self._outputs = context.Outputs.load(self.run.id)
        return self._outputs

    def node_context(self, step: Step) -> NodeContext:
        return NodeContext(
            node_id=step.node_id,
            scope=step.scope,
            config=self.graph.config(step.node_id),
            variables=context.variables(
                run=self.run, scope=step.scope, outputs=self.outputs, step_input=step.input
            ),
            graph=self.graph,
            idempotency_key=step.idempotency_key,
            subject=self.run.subject,
            run_id=str(self.run.id),
            step_input=step.input,
            attempt=step.attempt,
            step_id=step.id,
        )

    # --- starting ---------------------------------------------------------------------------
    def start(self) -> None:
        # A run started while its flow is switched off (a trigger, a retry, a subflow) is
        # created, then paused: its entry nodes are held, not lost (``flows.killswitch``).
        HOOKS.run_created(self.run)
        if self.run.status != RunStatus.PAUSED:
            transitions.run_move(self.run, RunStatus.RUNNING)
        for entry in self.graph.entries:
            self._work.append(Activation(entry, self.graph.entry_scope(entry)))
        self.drain()

    def drain(self) -> None:
        """Activate everything that became ready, then settle the run's status.

        A paused run (kill switch) starts nothing: what became ready is held, with the run
        lock still taken, and started by ``release`` when the run resumes."""
        if self.run.status == RunStatus.PAUSED:
            HOOKS.run_hold(self.run, [vars(act) for act in self._work])
            self._work.clear()
            return
        while self._work and self.run.status not in RUN_TERMINAL:
            activate(self, self._work.popleft())
        self.settle()

    def release(self, held: list[dict[str, Any]]) -> None:
        """Resume (kill switch): start what was held while the run was paused, then settle."""
        self._work.extend(Activation(**item) for item in held)
        self.drain()

    def activate_later(
        self,
        node_id: str,
        scope: str,
        *,
        previous_node: str | None = None,
        extra_input: dict[str, Any] | None = None,
    ) -> None:
        """Queue ``node_id`` in ``scope`` for activation by this unit's ``drain``."""
        self._work.append(Activation(node_id, scope, previous_node, extra_input))

    def start_run(self, run: Run) -> None:
        """Start ``run`` (a child of this one) in this same transaction."""
        Advance(run).start()

    # --- activation (``flows.engine.activation`` creates the step) --------------------------------
    def _idempotency_key(self, node_id: str, scope: str) -> str:
        return f"{self.run.root_run_id}:{node_id}:{scope or '-'}"

    # --- outcomes -----------------------------------------------------------------------------
    def apply(self, step: Step, outcome: Done | Wait | Requeue) -> None:
        """Act on what a node decided: finish it and follow its edges, park it, or run it
        again on a worker."""
        if isinstance(outcome, Requeue):
            # One more attempt: the approved execution must not be refused as exhausted.
            moved = transitions.step_move(
                step,
                StepStatus.QUEUED,
                max_attempts=step.max_attempts + 1,
                enqueued_at=timezone.now(),
                due_at=None,
                data={"reason": outcome.reason},
            )
            if moved:
                enqueue_step(step)
            return
        if isinstance(outcome, Wait):
            waits.park(self, step, outcome)
            return
        self.succeed(step, outcome)

    def succeed(
        self, step: Step, done: Done, *, attempt: int | None = None, usage_added: bool = False
    ) -> bool:
        """Finish ``step`` with ``done`` and follow its edges. With ``attempt``, only while the
        step still runs at that attempt (a worker's fence); False when it does not. With
        ``usage_added``, the run's totals already hold the step's usage (``open(usage=…)``)."""
        try:
            taken = self._taken(step, done)
        except StepError as exc:
            return self.fail_step(
                step,
                exc.message,
                exc.error_class,
                attempt=attempt,
                usage=done.usage,
                details=done.details,
                usage_added=usage_added,
            )
        usage = done.usage
        extra: dict[str, Any] = {"input": {**step.input, **done.details}} if done.details else {}
        moved = transitions.step_move(
            step,
            StepStatus.SUCCEEDED,
            where=None if attempt is None else Q(attempt=attempt),
            **extra,
            output=done.output,
            taken=taken,
            model=usage.model,
            tokens_in=usage.tokens_in,
            tokens_out=usage.tokens_out,
            cost=usage.cost,
        )
        if not moved:
            return False
        if not usage_added and (usage.tokens_in or usage.tokens_out or usage.cost):
            self._add_usage(usage.tokens_in, usage.tokens_out, usage.cost)
        if self._outputs is not None:  # else read when first needed, this one included
            self._outputs.add(step.node_id, step.scope, step.id, done.output)
        self._follow(step, done, taken)
        return True

    def _taken(self, step: Step, done: Done) -> list[int]:
        """The outgoing edges ``done`` takes: its own choice, else its node type's edge rule.
        Raises ``StepError`` when a condition cannot be evaluated."""
        if done.taken is not None:
            return done.taken
        node_type = REGISTRY[step.node_type]
        # Without conditions on its edges, no context (and no read of the run's outputs).
        taken = node_type.unconditional_edges(self.graph.out_edges.get(step.node_id, []))
        if taken is None:
            taken = node_type.select_edges(self.node_context(step), done.output)
        return taken

    def _follow(self, step: Step, done: Done, taken: list[int]) -> None:
        """After ``step`` succeeded: end the run, or signal its edges (and start a send-back
        round again)."""
        if done.ends_run:
            self.finish(RunStatus.SUCCEEDED, output=done.output)
            return
        if done.rejected is not None:
            # A rejection no edge continues ends the run (``flows.engine.nodes.approval``).
            self.finish(RunStatus.FAILED, error=done.rejected, error_class=ErrorClass.REJECTED)
            return
        silent = done.silent
        if done.send_back_to is not None:
            # The approval runs again in the next round: its error edges wait for that one.
            silent = [*silent, *(e.index for e in self.graph.error_edges.get(step.node_id, []))]
        propagate(self, step, taken, silent=silent)
        if done.send_back_to is not None:
            # A person sent the draft back: its round starts again at its head, as new steps
            # in the round's next scope (``flows.graph``: send-back rounds).
            scope = self.graph.send_back_scope(step.scope, step.node_id)
            head = self.graph.round_head[step.node_id]
            self._work.append(Activation(head, scope, previous_node=step.node_id))

    def _add_usage(self, tokens_in: int, tokens_out: int, cost: Any) -> None:
        self.run.tokens_in += tokens_in
        self.run.tokens_out += tokens_out
        self.run.cost += cost
        Run.objects.filter(id=self.run.id).update(
            tokens_in=self.run.tokens_in, tokens_out=self.run.tokens_out, cost=self.run.cost
        )

    def fail_step(
        self,
        step: Step,
        message: str,
        error_class: str,
        *,
        attempt: int | None = None,
        recoverable: bool = True,
        usage: Usage | None = None,
        details: dict[str, Any] | None = None,
        usage_added: bool = False,
    ) -> bool:
        """``step`` failed for good (its retries, if any, are used up): follow the node's
        failure path — ``on_error: continue``, its error edges, or failing the run — and bill
        what the failed attempt spent (``flows.engine.failures.fail_step`` says how). With
        ``attempt``, only while the step still runs at that attempt; False (nothing changed)
        when it does not. Not ``recoverable`` (a limit policy refused the activation): the
        run fails."""
        return failures.fail_step(
            self,
            step,
            message,
            error_class,
            attempt=attempt,
            recoverable=recoverable,
            usage=usage,
            details=details,
            usage_added=usage_added,
        )

    # --- the run as a whole ---------------------------------------------------------------------
    def settle(self) -> None:
        """After a change: finish the run if nothing is left, else show what it waits on."""
        if self.run.status in RUN_TERMINAL or self._work:
            return
        if self._spawned and self.run.status == RunStatus.RUNNING:
            return  # a step queued in this unit is in flight: the run stays running
        active = set(
            Step.objects.filter(run=self.run, status__in=STEP_ACTIVE).values_list(
                "status", "node_type"
            )
        )
        if not active:
            self.finish(RunStatus.SUCCEEDED, output=self._leaf_output())
            return
        if self.run.status == RunStatus.PAUSED:
            return
        busy = any(status != StepStatus.WAITING for status, _ in active)
        awaiting_people = any(
            status == StepStatus.WAITING and REGISTRY[node_type].waits_on_people
            for status, node_type in active
        )
        target = RunStatus.RUNNING if busy or not awaiting_people else RunStatus.WAITING_APPROVAL
        transitions.run_move(self.run, target)

    def _leaf_output(self) -> Any:
        leaves = {
            node_id: entries[-1][2]
            for node_id, entries in self.outputs.by_node.items()
            # (A loop node is never a leaf: its back edge leaves it.)
            if self.graph.is_leaf(node_id) and node_id not in self.graph.map_body
        }
        if len(leaves) == 1:
            return next(iter(leaves.values()))
        return leaves

    def finish(
        self, status: RunStatus, *, output: Any = None, error: str = "", error_class: str = ""
    ) -> None:
        """End the run: cancel whatever is still active, then tell a parent run, if any.
        A failed run says why in ``error`` and ``error_class`` (``flows.states.ErrorClass``)."""
        self._work.clear()
        if self.run.status in RUN_TERMINAL:
            return
        cancel_active(self.run, reason=f"run {status}")
        fields: dict[str, Any] = {"output": output, "error": error}
        if error_class:
            fields["error_class"] = error_class
        transitions.run_move(self.run, status, **fields)
        # Event triggers: flows watching this one start after commit (flows.triggers.events).
        transaction.on_commit(functools.partial(run_finished_after_commit, self.run.id))
        if self.run.parent_step_id:
            subflow_done(self.run)


_LOCK_ADDING = (
    f"UPDATE {Run._meta.db_table} SET tokens_in = tokens_in + %s, "
    "tokens_out = tokens_out + %s, cost = cost + %s WHERE id = %s RETURNING "
    + ", ".join(f'"{f.column}"' for f in Run._meta.concrete_fields)
)


def _lock_adding(run_id: Any, usage: Any) -> Run:
    """Lock the run's row by adding a step's usage to its totals; the run as updated."""
    with connection.cursor() as cursor:
        cursor.execute(_LOCK_ADDING, [usage.tokens_in, usage.tokens_out, usage.cost, run_id])
        row = cursor.fetchone()
    if row is None:
        raise Run.DoesNotExist(f"run {run_id} does not exist")
    values = {str(f.column): value for f, value in zip(Run._meta.concrete_fields, row, strict=True)}
    return claims.model_from_row(Run, values)


def subflow_done(child: Run) -> None:
    """A child run ended: resume its parent step (locks the parent after the child)."""
    assert child.parent_step_id is not None
    parent_step = Step.objects.get(id=child.parent_step_id)
    parent = Advance.open(parent_step.run_id)
    parent_step.refresh_from_db()
    waits.resume(
        parent,
        parent_step,
        {
            "status": child.status,
            "output": child.output,
            "error": child.error,
            "error_class": child.error_class,  # the parent step fails the same way
            "run_id": str(child.id),
            # What the child (and its own children) spent: the subflow step bills it.
            "usage": {
                "flow": child.flow.slug,
                "tokens_in": child.tokens_in,
                "tokens_out": child.tokens_out,
                "cost": str(child.cost),
            },
        },
    )
    parent.drain()
