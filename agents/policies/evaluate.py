"""``evaluate(policies, facts)``: every applicable policy's decision; ``strictest``: the one
that wins (block > require_approval > redact > allow). Pure: no database, no clock but
``facts.now``."""

from __future__ import annotations

from collections.abc import Iterable

from agents.policies.config import config_errors_cached
from agents.policies.facts import ALLOW, Decision, Facts, PolicyLike
from agents.policies.kinds import POINTS_BY_KIND, check


def applies(policy: PolicyLike, facts: Facts) -> bool:
    """Whether ``policy`` is asked at this point, for this flow, agent or tool."""
    if facts.point not in POINTS_BY_KIND.get(policy.kind, ()):
        return False
    target = {"global": None, "flow": facts.flow, "agent": facts.agent, "tool": facts.tool}
    if policy.scope not in target:
        return False
    wanted = target[policy.scope]
    return wanted is None or (bool(wanted) and policy.target == wanted)


def decide(policy: PolicyLike, facts: Facts) -> Decision:
    """One policy's decision. A policy whose stored config is invalid blocks (fail closed)."""
    config = policy.config if isinstance(policy.config, dict) else {}
    errors = config_errors_cached(policy.kind, policy.config)
    if errors:
        pointer, message = errors[0]
        return Decision(
            verdict="block",
            policy=policy.slug,
            kind=policy.kind,
            reason=f"policy {policy.slug!r} is misconfigured at {pointer}: {message}",
            detail={"misconfigured": True},
        )
    hit = check(policy.kind, config, facts, slug=policy.slug)
    if hit is None:
        return Decision(verdict="allow", policy=policy.slug, kind=policy.kind)
    reason = f"{policy.reason} ({hit.message})" if policy.reason else hit.message
    return Decision(
        verdict=policy.verdict, policy=policy.slug, kind=policy.kind, reason=reason,
        detail=dict(hit.detail),
    )  # fmt: skip


def evaluate(policies: Iterable[PolicyLike], facts: Facts) -> list[Decision]:
    """The decision of every policy that applies to ``facts``, in the given order (policies
    whose condition does not hold answer ``allow`` with no reason)."""
    return [decide(policy, facts) for policy in policies if applies(policy, facts)]


def strictest(decisions: Iterable[Decision]) -> Decision:
    """The decision that wins: the highest verdict, the first one among equals; ``ALLOW``
    when there is none."""
    best = ALLOW
    for decision in decisions:
        if decision.rank > best.rank:
            best = decision
    return best


def triggered(decisions: Iterable[Decision]) -> list[Decision]:
    """The decisions whose condition held (anything with a reason, allow-only ones included)."""
    return [decision for decision in decisions if decision.reason]
