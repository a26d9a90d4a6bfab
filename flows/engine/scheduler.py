"""Deciding what runs next: activation, edge signals, fan-in, dead paths, run completion.

Everything here runs inside one database transaction that holds the run's row lock
(``Advance.open``). The lock is what makes fan-in safe: two branches finishing at once would
otherwise both see "the other branch is not done" (or both see "all done") and start a join
twice or never. Cheap control nodes run inline in the same transaction; nodes that wait on the
outside world are inserted ``queued`` and published to Celery after commit.

What lies outside the engine (the kill switch, Celery, tracing, event triggers) is reached
through ``flows.engine.hooks``, never imported.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import uuid
from collections import deque
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from agents.redaction import redact
from flows import graph as graphs
from flows.engine import claims, context, continuation, transitions, waits
from flows.engine.hooks import HOOKS
from flows.engine.nodes import REGISTRY
from flows.engine.nodes.base import (
    Done,
    NodeContext,
    NodeType,
    Requeue,
    StepError,
    Usage,
    Wait,
)
from flows.engine.nodes.join import required_arrivals
from flows.guardrails import gates
from flows.models import Approval, EdgeSignal, Run, Step
from flows.states import (
    RUN_TERMINAL,
    STEP_ACTIVE,
    ApprovalStatus,
    ErrorClass,
    RunStatus,
    StepStatus,
)

logger = logging.getLogger(__name__)


@dataclass
class _Activation:
    node_id: str
    scope: str
    previous_node: str | None = None
    extra_input: dict[str, Any] | None = None


@dataclass
class _Spent:
    """What a failed attempt spent (``Advance.fail_step``); ``added``: in the run's totals."""

    usage: Usage
    details: dict[str, Any]
    added: bool


class Advance:
    """One unit of engine work on one locked run."""

    def __init__(self, run: Run) -> None:
        self.run = claims.attach_version(run)
        self.graph = graphs.for_version(run.version_id, run.version.document)
        self._outputs: context.Outputs | None = None
        self._work: deque[_Activation] = deque()
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
            self._work.append(_Activation(entry, self.graph.entry_scope(entry)))
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
            self._activate(self._work.popleft())
        self.settle()

    def release(self, held: list[dict[str, Any]]) -> None:
        """Resume (kill switch): start what was held while the run was paused, then settle."""
        self._work.extend(_Activation(**item) for item in held)
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
        self._work.append(_Activation(node_id, scope, previous_node, extra_input))

    def start_run(self, run: Run) -> None:
        """Start ``run`` (a child of this one) in this same transaction."""
        Advance(run).start()

    # --- activation ---------------------------------------------------------------------------
    def _idempotency_key(self, node_id: str, scope: str) -> str:
        return f"{self.run.root_run_id}:{node_id}:{scope or '-'}"

    def _activate(self, act: _Activation) -> None:
        """Start ``act``'s node: once per (node, scope) — the ``step_unique_activation``
        constraint makes a second activation (another branch reaching a join) a no-op."""
        node = self.graph.nodes[act.node_id]
        node_type = REGISTRY[node["type"]]
        step_input: dict[str, Any] = {"previous_node": act.previous_node, **(act.extra_input or {})}
        common = {
            "node_id": act.node_id,
            "node_type": node["type"],
            "scope": act.scope,
            "idempotency_key": self._idempotency_key(act.node_id, act.scope),
        }
        reused = self._reusable(act.node_id, act.scope)
        if reused is not None:
            step = transitions.step_create(
                run=self.run,
                status=StepStatus.SUCCEEDED,
                input=reused.input,
                output=reused.output,
                taken=reused.taken,
                reused_from=reused,
                model=reused.model,
                if_absent=True,
                **common,
            )
            if step is None:
                return
            self.outputs.add(step.node_id, step.scope, step.id, step.output)
            self._propagate(step, reused.taken or [], silent=[])
            return
        config = self.graph.config(act.node_id)
        retry = config.get("retry") or {}
        max_attempts = int(retry.get("max_attempts", node_type.default_max_attempts))
        if self._limits_refuse(act, common, step_input):
            return
        if node_type.queued:
            step_input.update(self._queued_input(act.node_id, node["type"], config))
            step = transitions.step_create(
                run=self.run,
                status=StepStatus.QUEUED,
                input=step_input,
                max_attempts=max_attempts,
                # Unpublished (NULL) inside publish_deferred(): the dispatcher hands it over.
                enqueued_at=None if _PUBLISH_DEFERRED.get() else timezone.now(),
                if_absent=True,
                **common,
            )
            if step is not None:
                self._spawned = True
                enqueue_step(step)
            return
        step = transitions.step_create(
            run=self.run,
            status=StepStatus.RUNNING,
            input=step_input,
            attempt=1,
            max_attempts=max_attempts,
            if_absent=True,
            **common,
        )
        if step is None:
            return
        try:
            outcome = node_type.run(self.node_context(step))
        except StepError as exc:
            self.fail_step(step, exc.message, exc.error_class)
            return
        self.apply(step, outcome)

    def _limits_refuse(
        self, act: _Activation, common: dict[str, Any], step_input: dict[str, Any]
    ) -> bool:
        """Ask the limit policies before the step starts; a block creates it failed, with the
        reason, which fails the run (``flows.guardrails``)."""
        if self.policies is None:
            self.policies = gates.run_policies(self.run)
        activation = gates.activation_check(run=self.run, scope=act.scope, policies=self.policies)
        blocked = activation.blocked if activation is not None else None
        if activation is None or blocked is None:
            return False  # limits that hold are not recorded per step: they would be noise
        step = transitions.step_create(
            run=self.run,
            status=StepStatus.RUNNING,
            input=step_input,
            attempt=1,
            if_absent=True,
            **common,
        )
        if step is None:
            return True  # already activated elsewhere
        gates.activation_record(activation, run=self.run, step=step)
        # A limit bounds the run's work: no failure path may go on past it.
        reason = f"blocked by policy {blocked.policy!r}: {blocked.reason}"
        self.fail_step(step, reason, "domain", recoverable=False)
        return True

    def _reusable(self, node_id: str, scope: str) -> Step | None:
        """In a retry run, the original run's success for this activation, if any. A
        rejection that no edge continued (what failed the original run) is asked again."""
        if not self.run.retry_of_id:
            return None
        return (
            Step.objects.filter(
                run_id=self.run.retry_of_id,
                node_id=node_id,
                scope=scope,
                status=StepStatus.SUCCEEDED,
            )
            .exclude(node_type__in=["map"])  # a map is re-gathered from its (reused) items
            .exclude(node_type="approval", output__decision="rejected", taken=[])
            .first()
        )

    def _queued_input(self, node_id: str, node_type: str, config: dict[str, Any]) -> dict[str, Any]:
        if node_type != "agent":
            return {}
        # The agent's turn in the run (``call_number``) is counted when the step is claimed.
        slug = str(config.get("agent", ""))
        spec = (self.run.version.frozen_agents or {}).get(slug)
        return {"agent": slug, "agent_spec": spec}

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
        node_type = REGISTRY[step.node_type]
        taken = done.taken
        if taken is None:
            # Without conditions on its edges, no context (and no read of the run's outputs).
            taken = node_type.unconditional_edges(self.graph.out_edges.get(step.node_id, []))
        if taken is None:
            try:
                taken = node_type.select_edges(self.node_context(step), done.output)
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
        if done.ends_run:
            self.finish(RunStatus.SUCCEEDED, output=done.output)
            return True
        if done.rejected is not None:
            # A rejection no edge continues ends the run (``flows.engine.nodes.approval``).
            self.finish(RunStatus.FAILED, error=done.rejected, error_class=ErrorClass.REJECTED)
            return True
        silent = done.silent
        if done.send_back_to is not None:
            # The approval runs again in the next round: its error edges wait for that one.
            silent = [*silent, *(e.index for e in self.graph.error_edges.get(step.node_id, []))]
        self._propagate(step, taken, silent=silent)
        if done.send_back_to is not None:
            # A person sent the draft back: its round starts again at its head, as new steps
            # in the round's next scope (``flows.graph``: send-back rounds).
            scope = self.graph.send_back_scope(step.scope, step.node_id)
            head = self.graph.round_head[step.node_id]
            self._work.append(_Activation(head, scope, previous_node=step.node_id))
        return True

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
        failure path. With ``attempt``, only while the step still runs at that attempt; False
        (nothing changed) when it does not.

        What the failed attempt spent (``usage``: an agent's model calls before it failed, a
        failed child run's totals) is billed as a success's is, whichever path follows: the
        step keeps it (model, tokens, cost, and ``details`` such as an agent's ``routing``
        merged into its input), so ROI and the metrics bill it per model when the step ends
        (``flows.roi.facts``), and the run's totals get it here, in this transaction — unless
        ``usage_added`` (the caller's ``open(usage=…)`` already added it).

        The failure path, in order (the document's ``on_error`` and ``"on": "error"`` edges):

        - ``on_error: continue`` — the step *succeeds* with output ``{"error": {"class",
          "message"}}`` and the flow goes on along its normal edges by the default rule (no
          condition, or a condition that holds with that output). A condition that cannot be
          evaluated fails the step for good after all.
        - error edges — the step is recorded ``failed`` (with the error edges in ``taken``),
          its error edges are taken and its normal edges are not (dead paths downstream, as
          for a route not chosen); ``steps.<id>.error`` is ``{"class", "message"}`` for the
          nodes after it. The run does not fail because of this step: it ends as its other
          paths decide.
        - otherwise — the step fails and so does the run, with the step's error class.

        Not ``recoverable`` (a limit policy refused the activation): always the last."""
        message = redact(message)  # stored errors never carry a secret (agents.redaction)
        where = None if attempt is None else Q(attempt=attempt)
        spent = _Spent(usage or Usage(), details or {}, usage_added)
        if recoverable and self.graph.on_error(step.node_id) == "continue":
            return self._continue(step, context.error_dict(error_class, message), attempt, spent)
        routes = [e.index for e in self.graph.error_edges.get(step.node_id, [])]
        if recoverable and routes and step.node_id not in self.graph.map_body:
            moved = transitions.step_move(
                step,
                StepStatus.FAILED,
                where=where,
                error=message,
                error_class=error_class,
                taken=routes,
                **self._spent_fields(step, spent),
            )
            if not moved:
                return False
            if self._outputs is not None:  # else read when first needed, this one included
                self._outputs.add_error(
                    step.node_id, step.scope, step.id, context.error_dict(error_class, message)
                )
            self._propagate(step, routes, silent=[])
            return True
        moved = transitions.step_move(
            step,
            StepStatus.FAILED,
            where=where,
            error=message,
            error_class=error_class,
            **self._spent_fields(step, spent),
        )
        if not moved and attempt is not None:
            return False
        self.finish(
            RunStatus.FAILED,
            error=f"step {step.node_id!r} failed: {message}",
            error_class=error_class,
        )
        return True

    def _spent_fields(self, step: Step, spent: _Spent) -> dict[str, Any]:
        """The failed step's columns for what it spent (``fail_step``); bills the run unless
        that was done already. Called just before the step's move, whose fence the caller
        has already checked when it passes ``attempt`` (a lost move rolls back with it)."""
        usage = spent.usage
        fields: dict[str, Any] = {"input": {**step.input, **spent.details}} if spent.details else {}
        if not (usage.tokens_in or usage.tokens_out or usage.cost):
            return fields
        if not spent.added:
            self._add_usage(usage.tokens_in, usage.tokens_out, usage.cost)
            spent.added = True
        return fields | {
            "model": usage.model,
            "tokens_in": usage.tokens_in,
            "tokens_out": usage.tokens_out,
            "cost": usage.cost,
        }

    def _continue(
        self, step: Step, error: dict[str, str], attempt: int | None, spent: _Spent
    ) -> bool:
        """``on_error: continue``: succeed ``step`` with its error as output (``fail_step``),
        keeping what the failed attempt spent."""
        output = {"error": error}
        try:
            taken = NodeType.select_edges(REGISTRY[step.node_type], self.node_context(step), output)
        except StepError as exc:
            message = f"{error['message']} (and on_error 'continue' could not go on: {exc.message})"
            return self.fail_step(
                step,
                message,
                error["class"],
                attempt=attempt,
                recoverable=False,
                usage=spent.usage,
                details=spent.details,
                usage_added=spent.added,
            )
        details = {**spent.details, "on_error": "continued"}
        done = Done(output=output, taken=taken, details=details, usage=spent.usage)
        return self.succeed(step, done, attempt=attempt, usage_added=spent.added)

    # --- edges ---------------------------------------------------------------------------------
    def _propagate(self, step: Step, taken: list[int], *, silent: list[int]) -> None:
        map_node = self.graph.map_body.get(step.node_id)
        if map_node is not None:
            waits.map_item_done(self, step, map_node)
            return
        # Normal and error edges alike: the ones not taken signal a dead path downstream.
        for edge in self.graph.all_out_edges(step.node_id):
            if edge.index in silent:
                continue
            self._signal(edge, step.scope, taken=edge.index in taken, source=step.node_id)

    def _signal(self, edge: graphs.Edge, scope: str, *, taken: bool, source: str) -> None:
        target_scope = self.graph.target_scope(edge, scope)
        if edge.back:
            if taken:
                self._work.append(_Activation(edge.dst, target_scope, previous_node=source))
            return
        if len(self.graph.in_forward.get(edge.dst, [])) == 1:
            # One input: this signal decides alone, so no bookkeeping row is needed (fan-in
            # rows exist only for nodes with several inputs).
            if taken:
                self._work.append(
                    _Activation(
                        edge.dst,
                        target_scope,
                        previous_node=source,
                        extra_input={"arrived": [source]},
                    )
                )
            else:
                self._skip(edge.dst, target_scope)
            return
        EdgeSignal.objects.bulk_create(
            [
                EdgeSignal(
                    run=self.run,
                    edge_index=edge.index,
                    to_node=edge.dst,
                    scope=target_scope,
                    taken=taken,
                )
            ],
            ignore_conflicts=True,
        )
        self._fan_in(edge.dst, target_scope, source)

    def _fan_in(self, node_id: str, scope: str, source: str) -> None:
        """Decide whether ``node_id`` can start in ``scope`` now that one more input arrived."""
        if Step.objects.filter(run=self.run, node_id=node_id, scope=scope).exists():
            return
        incoming = self.graph.in_forward.get(node_id, [])
        # In arrival order: signals are inserted under the run lock, so their ids are the
        # order the branches completed in (a join ``vote`` breaks ties by it).
        signals = list(
            EdgeSignal.objects.filter(run=self.run, to_node=node_id, scope=scope)
            .order_by("id")
            .values_list("edge_index", "taken")
        )
        source_of = {edge.index: edge.src for edge in incoming}
        arrived = [source_of[index] for index, taken in signals if taken and index in source_of]
        pending = len(incoming) - len(signals)
        need = len(incoming)
        if self.graph.node_type(node_id) == "join":
            need = required_arrivals(self.graph.config(node_id), len(incoming))
        if len(arrived) < need and pending > 0:
            return
        if arrived:
            self._work.append(
                _Activation(node_id, scope, previous_node=source, extra_input={"arrived": arrived})
            )
        else:
            self._skip(node_id, scope)

    def _skip(self, node_id: str, scope: str) -> None:
        """Dead path: nothing reaches ``node_id``; mark it skipped and tell its successors."""
        step = transitions.step_create(
            run=self.run,
            status=StepStatus.SKIPPED,
            node_id=node_id,
            node_type=self.graph.node_type(node_id),
            scope=scope,
            idempotency_key=self._idempotency_key(node_id, scope),
            max_attempts=REGISTRY[self.graph.node_type(node_id)].default_max_attempts,
            if_absent=True,
        )
        if step is None:
            return
        silent = [edge.index for edge in self.graph.out_edges.get(node_id, []) if edge.back]
        self._propagate(step, taken=[], silent=silent)

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
        # Agent and tool steps wait only on a person (a policy parked them); a join only on a
        # person breaking a tied vote.
        awaiting_people = any(
            status == StepStatus.WAITING
            and node_type in {"approval", "loop", "agent", "tool", "join"}
            for status, node_type in active
        )
        target = RunStatus.RUNNING if busy or not awaiting_people else RunStatus.WAITING_APPROVAL
        transitions.run_move(self.run, target)

    def _leaf_output(self) -> Any:
        leaves = {
            node_id: entries[-1][2]
            for node_id, entries in self.outputs.by_node.items()
            if self.graph.is_leaf(node_id)
            and node_id not in self.graph.map_body
            and self.graph.node_type(node_id) != "loop"
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


_PUBLISH_DEFERRED: ContextVar[bool] = ContextVar("flows_publish_deferred", default=False)


@contextlib.contextmanager
def publish_deferred() -> Iterator[None]:
    """Within this block, queued steps are not published after commit: the caller leaves them
    unpublished (``enqueued_at`` NULL) for ``flows.triggers.dispatch`` to hand over in a batch
    (hot ingestion paths), and the reconciler picks up the same rows as a backstop."""
    token = _PUBLISH_DEFERRED.set(True)
    try:
        yield
    finally:
        _PUBLISH_DEFERRED.reset(token)


def enqueue_step(step: Step) -> None:
    """Publish a queued step to the workers after commit (the ``step_publish`` hook), unless
    inside ``publish_deferred()``; the reconciler covers a failed publish."""
    if _PUBLISH_DEFERRED.get():
        return
    if continuation.offer(step):
        return  # this worker runs it next, after the commit (eager continuation)
    HOOKS.step_publish(step)
