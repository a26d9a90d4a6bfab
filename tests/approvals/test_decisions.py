"""Deciding: exactly one of two simultaneous deciders wins, decisions are bound to what was
shown, every decision is audited with who, when and what changed, approvals can be reassigned,
and the first opening is noted once."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.db import connection

from flows.approvals.access import may_decide
from flows.approvals.decisions import (
    ApprovalError,
    Decision,
    approval_bulk_approve,
    approval_decide,
    approval_open,
    approval_reassign,
)
from flows.engine import runs
from flows.models import Approval, Run, RunEvent
from tests.support.approvals import parked, review_flow, shown
from tests.support.flows import document, drive, node, save

pytestmark = pytest.mark.django_db


# committed rows: two threads decide on connections of their own, racing for the approval's lock
@pytest.mark.django_db(transaction=True)
def test_two_simultaneous_decisions_exactly_one_wins_and_the_other_is_told_who(
    cast: dict[str, Any],
) -> None:
    run, approval = parked(review_flow())
    barrier = threading.Barrier(2)
    outcomes: dict[str, str] = {}

    def decide(who: str, choice: str) -> None:
        try:
            barrier.wait()
            approval_decide(
                approval_id=approval.id,
                user=cast[who],
                decision=Decision(
                    choice, reason=f"{who} says {choice}", shown_hash=shown(approval.id)
                ),
            )
            outcomes[who] = "won"
        except ApprovalError as exc:
            outcomes[who] = f"{exc.code}: {exc.message}"
        finally:
            connection.close()

    threads = [
        threading.Thread(target=decide, args=("approver", "approve")),
        threading.Thread(target=decide, args=("approver2", "reject")),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    winners = [who for who, outcome in outcomes.items() if outcome == "won"]
    assert len(winners) == 1, outcomes
    [loser] = set(outcomes) - set(winners)
    approval.refresh_from_db()
    expected = "approved" if winners == ["approver"] else "rejected"
    assert approval.status == expected and approval.decided_by == cast[winners[0]]
    assert outcomes[loser] == f"conflict: already {expected} by {winners[0]}"
    assert (
        RunEvent.objects.filter(kind="approval.decided", data__approval_id=approval.id).count() == 1
    )
    # The run resumed once: one path taken, one end step.
    run = drive(run)
    assert run.status == "succeeded"
    assert run.steps.filter(node_type="end", status="succeeded").count() == 1


def test_an_edit_is_audited_with_who_when_and_the_diff(cast: dict[str, Any]) -> None:
    run, approval = parked(review_flow())
    approval_decide(
        approval_id=approval.id,
        user=cast["approver"],
        decision=Decision(
            "approve",
            output="A short post about pricing.",
            reason="tighter",
            shown_hash=approval.shown_hash,
        ),
    )
    approval.refresh_from_db()
    assert approval.resolution == "edited"
    assert approval.edit_distance == len("short ")
    assert approval.decision_output == "A short post about pricing."
    event = RunEvent.objects.get(kind="approval.decided", data__approval_id=approval.id)
    assert event.data["by"] == "approver"
    assert event.data["edited"] is True and event.data["edit_distance"] == 6
    assert "-A post about pricing." in event.data["diff"]
    assert "+A short post about pricing." in event.data["diff"]
    assert event.data["reason"] == "tighter"
    assert event.at is not None and approval.decided_at is not None
    assert drive(run).output == "A short post about pricing."


def test_an_edit_is_measured_before_the_run_lock_is_taken(
    cast: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The distance and the diff cost time on long drafts: nobody waits on the run's lock for
    them. Measured at the test's own transaction depth, not inside the decision's."""
    from flows.approvals import edits

    _, approval = parked(review_flow())
    depth = len(connection.savepoint_ids)
    seen: list[int] = []
    measure = edits.edit_distance

    def recording(before: Any, after: Any) -> int:
        seen.append(len(connection.savepoint_ids))
        return measure(before, after)

    monkeypatch.setattr(edits, "edit_distance", recording)
    approval_decide(
        approval_id=approval.id,
        user=cast["approver"],
        decision=Decision("approve", output="A longer post.", shown_hash=approval.shown_hash),
    )
    assert seen == [depth]


def test_approving_unchanged_is_not_an_edit(cast: dict[str, Any]) -> None:
    _, approval = parked(review_flow())
    approval_decide(
        approval_id=approval.id,
        user=cast["approver"],
        decision=Decision("approve", output=approval.draft, shown_hash=shown(approval.id)),
    )
    approval.refresh_from_db()
    assert (approval.resolution, approval.edit_distance) == ("approved", 0)


def test_a_draft_that_changed_after_it_was_shown_is_refused(cast: dict[str, Any]) -> None:
    _, approval = parked(review_flow())
    shown = approval.shown_hash
    Approval.objects.filter(id=approval.id).update(draft="Something else", shown_hash="f" * 64)
    with pytest.raises(ApprovalError) as refused:
        approval_decide(
            approval_id=approval.id,
            user=cast["approver"],
            decision=Decision("approve", shown_hash=shown),
        )
    assert (refused.value.code, refused.value.status) == ("stale", 409)
    approval.refresh_from_db()
    assert approval.status == "pending"


@pytest.mark.parametrize("who", ["viewer", "designer", "outsider"])
def test_roles_that_cannot_decide_are_refused(cast: dict[str, Any], who: str) -> None:
    _, approval = parked(review_flow())
    with pytest.raises(ApprovalError) as refused:
        approval_decide(
            approval_id=approval.id,
            user=cast[who],
            decision=Decision("approve", shown_hash=shown(approval.id)),
        )
    assert refused.value.status == 403


def test_reassigning_to_a_person_makes_it_theirs_alone(cast: dict[str, Any]) -> None:
    _, approval = parked(review_flow())
    approval_reassign(
        approval_id=approval.id, user=cast["approver"], to_user="approver2", note="yours"
    )
    approval.refresh_from_db()
    assert approval.assignee_user == cast["approver2"]
    assert not may_decide(cast["approver"], approval)
    assert may_decide(cast["approver2"], approval) and may_decide(cast["admin"], approval)
    event = RunEvent.objects.get(kind="approval.reassigned", data__approval_id=approval.id)
    assert event.data["by"] == "approver"
    assert event.data["from"] == {"user": None, "role": "approver"}
    assert event.data["to"] == {"user": "approver2", "role": "approver"}
    assert event.data["note"] == "yours"
    with pytest.raises(ApprovalError) as refused:
        approval_decide(
            approval_id=approval.id,
            user=cast["approver"],
            decision=Decision("approve", shown_hash=shown(approval.id)),
        )
    assert refused.value.status == 403


def test_reassigning_to_a_role_or_someone_who_cannot_decide(cast: dict[str, Any]) -> None:
    _, approval = parked(review_flow())
    with pytest.raises(ApprovalError, match="viewer cannot decide approvals"):
        approval_reassign(approval_id=approval.id, user=cast["approver"], to_user="viewer")
    with pytest.raises(ApprovalError, match="a role that can decide them"):
        approval_reassign(approval_id=approval.id, user=cast["approver"], to_role="viewer")
    approval_reassign(approval_id=approval.id, user=cast["approver"], to_role="admin")
    approval.refresh_from_db()
    assert (approval.assignee_role, approval.assignee_user) == ("admin", None)
    assert not may_decide(cast["approver"], approval)


def test_the_first_opening_by_an_eligible_approver_is_noted_once(cast: dict[str, Any]) -> None:
    _, approval = parked(review_flow())
    assert approval_open(approval_id=approval.id, user=cast["viewer"]) is False
    assert approval_open(approval_id=approval.id, user=cast["approver"]) is True
    assert approval_open(approval_id=approval.id, user=cast["approver2"]) is False
    approval.refresh_from_db()
    assert approval.first_opened_by == cast["approver"]
    assert approval.first_opened_at is not None
    assert (
        RunEvent.objects.filter(kind="approval.opened", data__approval_id=approval.id).count() == 1
    )


def test_bulk_approve_approves_each_one_as_shown_and_reports_the_refused(
    cast: dict[str, Any],
) -> None:
    flow_doc = review_flow("bulk")
    _, first = parked(flow_doc, "one")
    _, second = parked(flow_doc, "two")
    _, third = parked(flow_doc, "three")
    result = approval_bulk_approve(
        items=[(first.id, first.shown_hash), (second.id, "0" * 64), (third.id, None)],
        user=cast["approver"],
    )
    assert result.approved == [first.id]
    assert result.refused[0] == (
        second.id,
        "the draft changed after it was shown; review the current version",
    )
    assert result.refused[1][0] == third.id and "shown_hash is required" in result.refused[1][1]
    statuses = dict(Approval.objects.values_list("id", "status"))
    assert statuses == {first.id: "approved", second.id: "pending", third.id: "pending"}


def test_an_edited_tool_call_keeps_its_tool_and_must_fit_its_schema(
    cast: dict[str, Any],
) -> None:
    doc = document(
        "tool-review",
        [
            node(
                "review",
                "approval",
                title="Send it?",
                tool="send_email",
                arguments={"to": "{{ input.to }}", "subject": "Hi", "body": "Hello"},
            ),
            node("done", "end", output="{{ steps.review.output.output }}"),
        ],
        [("review", "done")],
    )
    run, _ = runs.run_start(flow=save(doc), input={"to": "ada@example.test"})
    run = drive(run)
    approval = Approval.objects.get(run=run)
    assert approval.draft == {
        "tool": "send_email",
        "arguments": {"to": "ada@example.test", "subject": "Hi", "body": "Hello"},
    }
    changed_tool = {"tool": "http_request", "arguments": {}}
    with pytest.raises(ApprovalError, match="only the arguments may change") as refused:
        approval_decide(
            approval_id=approval.id,
            user=cast["approver"],
            decision=Decision("approve", output=changed_tool, shown_hash=shown(approval.id)),
        )
    assert refused.value.status == 422
    bad = {
        "tool": "send_email",
        "arguments": {"to": "ada@example.test", "subject": 5, "body": "Hello"},
    }
    with pytest.raises(ApprovalError, match="subject: 5 is not of type"):
        approval_decide(
            approval_id=approval.id,
            user=cast["approver"],
            decision=Decision("approve", output=bad, shown_hash=shown(approval.id)),
        )
    good = {
        "tool": "send_email",
        "arguments": {"to": "ada@example.test", "subject": "Hi Ada", "body": "Hello"},
    }
    approval_decide(
        approval_id=approval.id,
        user=cast["approver"],
        decision=Decision("approve", output=good, shown_hash=shown(approval.id)),
    )
    assert Run.objects.get(id=run.id).output == good
