"""Earned autonomy: when people keep approving an agent's drafts unchanged, review a sample.

The rule, per approval node (its ``autonomy`` config over ``AUTONOMY_DEFAULTS``): among the
last ``window`` human decisions on the node's drafts by the node's current agent, when at least
``threshold`` of them were approved without edits, the node's page *suggests* reviewing only 1
in ``sample_one_in``. Nothing changes until a designer turns sampling on
(``autonomy_set``); from then on the engine asks ``approval_sampling`` for every new item and
lets the unsampled ones pass, recorded as ``auto_passed``. Sampled items are reviewed as usual
and keep feeding the evidence: when it falls below the rule, sampling turns itself off
(``autonomy_recheck``) — a person must turn it on again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import F

from flows.engine.hooks import Sampling
from flows.engine.nodes.approval import autonomy_rule
from flows.models import Approval, ApprovalAutonomy, Flow

HUMAN_RESOLUTIONS = [
    Approval.Resolution.APPROVED,
    Approval.Resolution.EDITED,
    Approval.Resolution.REJECTED,
    Approval.Resolution.SENT_BACK,
]


class AutonomyError(Exception):
    pass


@dataclass(frozen=True)
class Evidence:
    """The last ``considered`` human decisions (at most ``window``) and how they went."""

    agent: str
    window: int
    threshold: float
    sample_one_in: int
    considered: int
    clean: int  # approved as shown
    edited: int
    rejected: int
    sent_back: int

    @property
    def rate(self) -> float:
        return self.clean / self.considered if self.considered else 0.0

    @property
    def missing(self) -> int:
        """Decisions still needed before the window is full."""
        return max(0, self.window - self.considered)

    @property
    def meets(self) -> bool:
        """The rule holds: a full window, approved unchanged at least ``threshold`` of it."""
        return self.considered >= self.window and self.rate >= self.threshold

    def as_dict(self) -> dict[str, Any]:
        return {
            "agent": self.agent,
            "window": self.window,
            "threshold": self.threshold,
            "sample_one_in": self.sample_one_in,
            "considered": self.considered,
            "clean": self.clean,
            "edited": self.edited,
            "rejected": self.rejected,
            "sent_back": self.sent_back,
            "rate": round(self.rate, 4),
        }


def autonomy_evidence(*, flow_id: int, node_id: str, config: dict[str, Any]) -> Evidence:
    """The evidence for the node's rule: its current agent's last human decisions."""
    rule = autonomy_rule(config)
    mine = Approval.objects.filter(run__flow_id=flow_id, step__node_id=node_id)
    agent = mine.order_by("-created_at", "-id").values_list("agent", flat=True).first() or ""
    resolutions = list(
        mine.filter(agent=agent, resolution__in=HUMAN_RESOLUTIONS)
        .order_by("-decided_at", "-id")
        .values_list("resolution", flat=True)[: int(rule["window"])]
    )
    return Evidence(
        agent=agent,
        window=int(rule["window"]),
        threshold=float(rule["threshold"]),
        sample_one_in=int(rule["sample_one_in"]),
        considered=len(resolutions),
        clean=resolutions.count(Approval.Resolution.APPROVED),
        edited=resolutions.count(Approval.Resolution.EDITED),
        rejected=resolutions.count(Approval.Resolution.REJECTED),
        sent_back=resolutions.count(Approval.Resolution.SENT_BACK),
    )


def autonomy_get(*, flow_id: int, node_id: str) -> ApprovalAutonomy | None:
    return ApprovalAutonomy.objects.filter(flow_id=flow_id, node_id=node_id).first()


def autonomy_set(
    *, flow: Flow, node_id: str, config: dict[str, Any], user: Any, enabled: bool
) -> ApprovalAutonomy:
    """Turn sampling on (only while the evidence meets the rule) or off, for one node."""
    evidence = autonomy_evidence(flow_id=flow.id, node_id=node_id, config=config)
    if enabled and not evidence.meets:
        raise AutonomyError(
            f"the last {evidence.considered} decisions do not meet the rule yet "
            f"({evidence.clean} approved unchanged; {evidence.window} decisions at "
            f"{evidence.threshold:.0%} are needed)"
        )
    with transaction.atomic():
        rule, _ = ApprovalAutonomy.objects.select_for_update().get_or_create(
            flow=flow,
            node_id=node_id,
            defaults={"sample_one_in": evidence.sample_one_in, "agent": evidence.agent},
        )
        rule.enabled = enabled
        rule.changed_by = user
        rule.disabled_reason = "" if enabled else f"turned off by {user.get_username()}"
        if enabled:
            rule.sample_one_in = evidence.sample_one_in
            rule.agent = evidence.agent
            rule.evidence = evidence.as_dict()
            rule.seen = 0
        rule.save()
    return rule


def approval_sampling(*, flow_id: int, node_id: str, agent: str) -> Sampling | None:
    """For a new item of an approval node: None when sampling is off — or was earned by
    another agent than the one that drafted this item — else whether a person reviews this
    one. The first item after turning it on is reviewed, then 1 in K. Called by the engine
    (its ``approval_sampling`` hook) inside the transaction that creates the approval."""
    rule = (
        ApprovalAutonomy.objects.select_for_update()
        .filter(flow_id=flow_id, node_id=node_id, enabled=True)
        .first()
    )
    if rule is None or rule.agent != agent:
        return None
    ApprovalAutonomy.objects.filter(id=rule.id).update(seen=F("seen") + 1)
    return Sampling(review=rule.seen % rule.sample_one_in == 0, one_in=rule.sample_one_in)


def autonomy_recheck(*, flow_id: int, node_id: str, config: dict[str, Any]) -> bool:
    """After a human decision: turn sampling off when the evidence no longer meets the rule.
    True when it was turned off now."""
    rule = autonomy_get(flow_id=flow_id, node_id=node_id)
    if rule is None or not rule.enabled:
        return False
    evidence = autonomy_evidence(flow_id=flow_id, node_id=node_id, config=config)
    if evidence.meets:
        return False
    reason = (
        f"turned off: {evidence.clean} of the last {evidence.considered} reviewed drafts were "
        f"approved unchanged, below {evidence.threshold:.0%}"
    )
    return bool(
        ApprovalAutonomy.objects.filter(id=rule.id, enabled=True).update(
            enabled=False, disabled_reason=reason, changed_by=None
        )
    )
