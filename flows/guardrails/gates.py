"""Where the engine meets the guardrails: the guard for a queued step, the limits checked
before a step is activated, and turning a park into the step's ``Wait``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.utils import timezone

from agents.policies import Decision, Facts, PolicyLike, evaluate, strictest
from agents.runtime import PolicyParked
from flows.engine.nodes.base import ApprovalRequest, NodeContext, Wait
from flows.guardrails.guard import StepGuard, Where
from flows.guardrails.record import verdicts_record
from flows.guardrails.sources import policies_for
from flows.models import Run, Step

#: What a waiting step keeps in its ``input`` about the park: ``{"key", "usage"?}``.
GATE_INPUT = "policy_gate"


def step_guard(ctx: NodeContext, *, agent: str = "", prompt: str = "") -> StepGuard:
    """The guard for one execution of a queued step: from what the worker's claim read (the
    run and the policy rows), else from two queries."""
    run = ctx.run
    if run is None:
        run = Run.objects.select_related("flow", "version").get(id=ctx.run_id)
    slug = flow_slug(run)
    policies = ctx.policies
    if policies is None:
        policies = policies_for(flow_slug=slug, document=run.version.document)
    return StepGuard(
        Where(
            run_id=run.id,
            step_id=ctx.step_id,
            flow=slug,
            subject=run.subject,
            policies=policies,
            agent=agent,
            prompt=prompt,
            input=dict(run.input or {}),
            steps=dict(ctx.variables.get("steps") or {}),
            started_at=run.started_at,
            parked=bool(ctx.step_input.get(GATE_INPUT)),
            superseded=ctx.superseded,
            flow_id=run.flow_id,
            node_id=ctx.node_id,
        )
    )


def parked(exc: PolicyParked, *, agent: str = "", extra: dict[str, Any] | None = None) -> Wait:
    """The ``Wait`` of a step a policy parked: an approval from ``source=policy`` showing
    exactly the call (or answer) and the reason."""
    return Wait(
        approval=ApprovalRequest(
            title=exc.title[:300],
            draft=exc.draft,
            reason=exc.reason,
            agent=agent,
            source="policy",
            policy_key=exc.key,
        ),
        input={GATE_INPUT: {"key": exc.key, **(extra or {})}},
    )


@dataclass
class Activation:
    """Limits checked before a step starts: the facts, and the decisions."""

    facts: Facts
    decisions: list[Decision]

    @property
    def blocked(self) -> Decision | None:
        decision = strictest(self.decisions)
        return decision if decision.verdict == "block" else None


def activation_check(*, run: Run, scope: str, policies: list[PolicyLike]) -> Activation | None:
    """Ask the ``step`` policies (limits) about activating a step in ``scope``; None
    when none applies (then nothing is counted)."""
    if not any(policy.kind == "limits" for policy in policies):
        return None
    now = timezone.now()
    facts = Facts(
        point="step",
        flow=flow_slug(run),
        subject=run.subject,
        input=run.input or {},
        now=now,
        step_count=Step.objects.filter(run=run).count(),
        loop_iteration=_loop_iteration(scope),
        run_seconds=(now - run.started_at).total_seconds() if run.started_at else 0.0,
    )
    decisions = evaluate(policies, facts)
    return Activation(facts=facts, decisions=decisions) if decisions else None


def activation_record(activation: Activation, *, run: Run, step: Step) -> None:
    verdicts_record(activation.decisions, facts=activation.facts, run_id=run.id, step_id=step.id)


def _loop_iteration(scope: str) -> int:
    """The highest iteration index of the loops ``scope`` is inside (0 outside loops); map
    items (``@``) and send-back rounds (``~``) are not loops."""
    highest = 0
    for part in scope.split("/") if scope else []:
        name, _, number = part.partition("#")
        if number.isdigit() and not name.startswith(("@", "~")):
            highest = max(highest, int(number))
    return highest


def run_policies(run: Run) -> list[PolicyLike]:
    """The policies of a run's flow version (rows and the document's ``policies[]``)."""
    return policies_for(flow_slug=flow_slug(run), document=run.version.document)


def flow_slug(run: Run) -> str:
    """The run's flow slug, from its version's document (saved under it) without a query."""
    return str(run.version.document.get("slug") or run.flow.slug)
