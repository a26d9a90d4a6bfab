"""Recording verdicts: a ``PolicyVerdict`` row for every decision at a step, and an audit
row (``agents.audit``) for every one that did not simply allow."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from agents.audit import audit_record
from agents.policies import Decision, Facts
from flows.guardrails.models import PolicyVerdict

#: How much of the input that led to a verdict (the agent's prompt) the audit row keeps.
TRIGGER_CHARS = 1000


def verdicts_record(
    decisions: Iterable[Decision],
    *,
    facts: Facts,
    run_id: Any,
    step_id: int | None,
    call_key: str = "",
    trigger: Mapping[str, Any] | None = None,
) -> list[PolicyVerdict]:
    """Store the decisions (in the caller's transaction, if any). ``trigger`` names the input
    that caused them (the prompt an agent was given, the tool call it made); it goes to the
    audit log with each non-allow verdict, so a blocked prompt injection can be traced."""
    decisions = list(decisions)
    summary = facts.summary()
    rows = [
        PolicyVerdict(
            run_id=run_id,
            step_id=step_id or None,
            point=facts.point,
            policy=decision.policy[:120],
            kind=decision.kind,
            verdict=decision.verdict,
            reason=decision.reason,
            facts={**summary, **({"detail": dict(decision.detail)} if decision.detail else {})},
            call_key=call_key[:300],
        )
        for decision in decisions
    ]
    if not rows:
        return []
    PolicyVerdict.objects.bulk_create(rows)
    for decision in decisions:
        if decision.verdict == "allow":
            continue
        audit_record(
            kind="verdict",
            action=f"policy.{decision.verdict}",
            reason=decision.reason,
            subject=facts.subject,
            flow_slug=facts.flow,
            run_id=run_id,
            step_id=step_id or None,
            data={
                "policy": decision.policy,
                "policy_kind": decision.kind,
                "point": facts.point,
                "facts": summary,
                "detail": dict(decision.detail),
                "trigger": _trigger(trigger),
            },
        )
    return rows


def _trigger(trigger: Mapping[str, Any] | None) -> dict[str, Any]:
    if not trigger:
        return {}
    return {
        key: value[:TRIGGER_CHARS] if isinstance(value, str) else value
        for key, value in trigger.items()
    }


def verdicts_link(*, step_id: int, call_key: str, approval_id: int) -> None:
    """Tie the ``require_approval`` verdicts of a parked call to the approval they opened."""
    PolicyVerdict.objects.filter(
        step_id=step_id, call_key=call_key, verdict="require_approval", approval__isnull=True
    ).update(approval_id=approval_id)
