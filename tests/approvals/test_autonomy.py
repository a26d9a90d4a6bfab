"""Earned autonomy: a node's page suggests sampling once people approved enough drafts
unchanged; sampling applies only when a designer turns it on, unsampled items pass on their own
(recorded as such), and it turns itself off when the evidence no longer holds."""

from __future__ import annotations

from typing import Any

import pytest

from flows.approvals.autonomy import (
    AutonomyError,
    autonomy_evidence,
    autonomy_get,
    autonomy_set,
)
from flows.approvals.decisions import Decision, approval_decide
from flows.engine import runs
from flows.models import Approval, Flow, RunEvent
from tests.support.approvals import review_flow, shown
from tests.support.flows import drive, save

pytestmark = pytest.mark.django_db

RULE = {"window": 5, "threshold": 0.8, "sample_one_in": 3}
CONFIG = {"autonomy": RULE}


def one(flow: Flow, topic: str = "pricing") -> Approval:
    run, _ = runs.run_start(flow=flow, input={"topic": topic})
    drive(run)
    return Approval.objects.filter(run=run).latest("id")


def decide(approval: Approval, who: Any, choice: str = "approve", **extra: Any) -> None:
    approval_decide(
        approval_id=approval.id,
        user=who,
        decision=Decision(choice, **extra, shown_hash=shown(approval.id)),
    )


def test_the_rule_is_suggested_only_with_a_full_window_of_clean_approvals(
    cast: dict[str, Any],
) -> None:
    flow = save(review_flow("earned", autonomy=RULE))
    for index in range(4):
        decide(one(flow, f"t{index}"), cast["approver"])
    evidence = autonomy_evidence(flow_id=flow.id, node_id="review", config=CONFIG)
    assert (evidence.considered, evidence.clean, evidence.meets) == (4, 4, False)
    assert evidence.agent == "writer" and evidence.missing == 1
    decide(one(flow, "t4"), cast["approver"], output="edited once")
    evidence = autonomy_evidence(flow_id=flow.id, node_id="review", config=CONFIG)
    assert (evidence.considered, evidence.clean, evidence.edited) == (5, 4, 1)
    assert evidence.rate == 0.8 and evidence.meets
    assert autonomy_get(flow_id=flow.id, node_id="review") is None  # suggested, not applied


def test_sampling_is_refused_without_the_evidence(cast: dict[str, Any]) -> None:
    flow = save(review_flow("no-evidence", autonomy=RULE))
    decide(one(flow), cast["approver"], "reject", reason="off-brand")
    with pytest.raises(AutonomyError, match="do not meet the rule yet"):
        autonomy_set(
            flow=flow, node_id="review", config=CONFIG, user=cast["designer"], enabled=True
        )


def test_when_on_unsampled_items_pass_and_say_so_and_sampled_ones_wait(
    cast: dict[str, Any],
) -> None:
    flow = save(review_flow("sampling", autonomy=RULE))
    for index in range(5):
        decide(one(flow, f"t{index}"), cast["approver"])
    rule = autonomy_set(
        flow=flow, node_id="review", config=CONFIG, user=cast["designer"], enabled=True
    )
    assert rule.enabled and rule.sample_one_in == 3
    assert rule.evidence["clean"] == 5 and rule.changed_by == cast["designer"]

    made = [one(flow, f"s{index}") for index in range(6)]
    assert [a.status for a in made] == ["pending", "approved", "approved"] * 2
    assert [a.sampled for a in made] == [True, False, False] * 2
    passed = made[1]
    assert passed.resolution == "auto_passed" and passed.decided_by is None
    assert passed.run.status == "succeeded"
    assert passed.run.output == "A post about s1."
    event = RunEvent.objects.get(kind="approval.decided", data__approval_id=passed.id)
    assert event.data["resolution"] == "auto_passed"
    assert "1 in 3 is reviewed" in event.data["reason"]


def test_sampling_turns_itself_off_when_reviewed_drafts_stop_passing(
    cast: dict[str, Any],
) -> None:
    flow = save(review_flow("slipping", autonomy=RULE))
    for index in range(5):
        decide(one(flow, f"t{index}"), cast["approver"])
    autonomy_set(flow=flow, node_id="review", config=CONFIG, user=cast["designer"], enabled=True)
    sampled = one(flow, "bad")
    assert sampled.sampled and sampled.status == "pending"
    decide(sampled, cast["approver"], "reject", reason="wrong price")
    assert autonomy_get(flow_id=flow.id, node_id="review").enabled  # 4 of 5 still clean
    again = one(flow, "worse")  # not sampled: passes
    assert again.resolution == "auto_passed"
    assert one(flow, "x").resolution == "auto_passed"
    third = one(flow, "y")  # 1 in 3: the next sampled one
    assert third.sampled
    decide(third, cast["approver"], output="rewritten")
    rule = autonomy_get(flow_id=flow.id, node_id="review")
    assert rule is not None and not rule.enabled
    assert rule.disabled_reason.startswith("turned off: 3 of the last 5 reviewed drafts")
    assert one(flow, "after").status == "pending"  # every draft reviewed again


def test_a_designer_turns_it_off(cast: dict[str, Any]) -> None:
    flow = save(review_flow("off", autonomy=RULE))
    for index in range(5):
        decide(one(flow, f"t{index}"), cast["approver"])
    autonomy_set(flow=flow, node_id="review", config=CONFIG, user=cast["designer"], enabled=True)
    rule = autonomy_set(
        flow=flow, node_id="review", config=CONFIG, user=cast["designer"], enabled=False
    )
    assert not rule.enabled and rule.disabled_reason == "turned off by designer"
    assert one(flow).status == "pending"


def test_a_redraft_and_another_agents_draft_are_always_reviewed(cast: dict[str, Any]) -> None:
    doc = review_flow("guarded", autonomy=RULE, send_back_to="write")
    flow = save(doc)
    for index in range(5):
        decide(one(flow, f"t{index}"), cast["approver"])
    autonomy_set(flow=flow, node_id="review", config=CONFIG, user=cast["designer"], enabled=True)
    sampled = one(flow, "sampled")
    assert sampled.sampled
    decide(sampled, cast["approver"], "reject", reason="redo", send_back=True)
    drive(sampled.run)
    redraft = Approval.objects.get(run=sampled.run, status="pending")
    assert redraft.round == 1 and not redraft.sampled  # not left to chance: reviewed

    # A new version drafts with another agent: what the old one earned does not carry over.
    doc["agents"][0]["slug"] = "newcomer"
    doc["nodes"][0]["config"]["agent"] = "newcomer"
    save(doc)
    assert [one(flow, f"n{index}").status for index in range(3)] == ["pending"] * 3
