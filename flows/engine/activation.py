"""Activating a node: creating its step once per (node, scope), and what decides how.

Every function runs inside the transaction of an ``Advance`` (the run row is locked), which
the caller passes in; like ``flows.engine.waits`` this module sits below
``flows.engine.scheduler`` and does not import it. An activation, in order: a retry run reuses
the original run's success for it; the limit policies may refuse it (the step is created
failed, which fails the run); a node that waits on the outside world is created ``queued``
and published after commit (``flows.engine.publish``); a cheap control node runs inline, here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.utils import timezone

from flows.engine import transitions
from flows.engine.edges import propagate
from flows.engine.nodes import REGISTRY
from flows.engine.nodes.base import StepError
from flows.engine.publish import enqueue_step, publishing_deferred
from flows.guardrails import gates
from flows.models import Step
from flows.states import StepStatus

if TYPE_CHECKING:
    from flows.engine.scheduler import Advance


@dataclass
class Activation:
    """A node to start in a scope, and what its step's input starts with."""

    node_id: str
    scope: str
    previous_node: str | None = None
    extra_input: dict[str, Any] | None = None


def activate(advance: Advance, act: Activation) -> None:
    """Start ``act``'s node: once per (node, scope) — the ``step_unique_activation``
    constraint makes a second activation (another branch reaching a join) a no-op."""
    node = advance.graph.nodes[act.node_id]
    node_type = REGISTRY[node["type"]]
    step_input: dict[str, Any] = {"previous_node": act.previous_node, **(act.extra_input or {})}
    common = {
        "node_id": act.node_id,
        "node_type": node["type"],
        "scope": act.scope,
        "idempotency_key": advance._idempotency_key(act.node_id, act.scope),
    }
    reused = _reusable(advance, act.node_id, act.scope)
    if reused is not None:
        step = transitions.step_create(
            run=advance.run,
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
        advance.outputs.add(step.node_id, step.scope, step.id, step.output)
        propagate(advance, step, reused.taken or [], silent=[])
        return
    config = advance.graph.config(act.node_id)
    retry = config.get("retry") or {}
    max_attempts = int(retry.get("max_attempts", node_type.default_max_attempts))
    if _limits_refuse(advance, act, common, step_input):
        return
    if node_type.queued:
        step_input.update(_queued_input(advance, node["type"], config))
        step = transitions.step_create(
            run=advance.run,
            status=StepStatus.QUEUED,
            input=step_input,
            max_attempts=max_attempts,
            # Unpublished (NULL) inside publish_deferred(): the dispatcher hands it over.
            enqueued_at=None if publishing_deferred() else timezone.now(),
            if_absent=True,
            **common,
        )
        if step is not None:
            advance._spawned = True
            enqueue_step(step)
        return
    step = transitions.step_create(
        run=advance.run,
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
        outcome = node_type.run(advance.node_context(step))
    except StepError as exc:
        advance.fail_step(step, exc.message, exc.error_class)
        return
    advance.apply(step, outcome)


def _limits_refuse(
    advance: Advance, act: Activation, common: dict[str, Any], step_input: dict[str, Any]
) -> bool:
    """Ask the limit policies before the step starts; a block creates it failed, with the
    reason, which fails the run (``flows.guardrails``)."""
    if advance.policies is None:
        advance.policies = gates.run_policies(advance.run)
    activation = gates.activation_check(run=advance.run, scope=act.scope, policies=advance.policies)
    blocked = activation.blocked if activation is not None else None
    if activation is None or blocked is None:
        return False  # limits that hold are not recorded per step: they would be noise
    step = transitions.step_create(
        run=advance.run,
        status=StepStatus.RUNNING,
        input=step_input,
        attempt=1,
        if_absent=True,
        **common,
    )
    if step is None:
        return True  # already activated elsewhere
    gates.activation_record(activation, run=advance.run, step=step)
    # A limit bounds the run's work: no failure path may go on past it.
    reason = f"blocked by policy {blocked.policy!r}: {blocked.reason}"
    advance.fail_step(step, reason, "domain", recoverable=False)
    return True


def _reusable(advance: Advance, node_id: str, scope: str) -> Step | None:
    """In a retry run, the original run's success for this activation, if any. A
    rejection that no edge continued (what failed the original run) is asked again."""
    if not advance.run.retry_of_id:
        return None
    found = Step.objects.filter(
        run_id=advance.run.retry_of_id, node_id=node_id, scope=scope, status=StepStatus.SUCCEEDED
    ).first()
    if found is None or not REGISTRY[found.node_type].reusable_in_retry(found.output, found.taken):
        return None
    return found


def _queued_input(advance: Advance, node_type: str, config: dict[str, Any]) -> dict[str, Any]:
    return REGISTRY[node_type].queued_input(config, advance.run)
