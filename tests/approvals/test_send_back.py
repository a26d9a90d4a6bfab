"""Send back: a person rejects a draft with notes and the drafting step runs again, seeing them.

The round from ``send_back_to`` to the approval runs again as new steps in the round's next
scope (``~review#1``); what follows the approval reads the latest round.
"""

from __future__ import annotations

from typing import Any

import pytest

from controlroom.accounts import user_ensure
from controlroom.roles import Role
from flows.approvals.decisions import ApprovalError, Decision, approval_decide
from flows.engine import runs
from flows.models import Approval, Run, RunEvent, Step
from tests.support.approvals import shown
from tests.support.flows import document, drive, node, save, scripted

pytestmark = pytest.mark.django_db


@pytest.fixture
def approver() -> Any:
    return user_ensure(username="approver", role=Role.APPROVER)


def send_back_flow(slug: str = "send-back", **review: Any) -> dict[str, Any]:
    """draft (agent) → polish (agent) → review (approval, sends back to draft) → send (end)."""
    return document(
        slug,
        [
            node("draft", "agent", agent="writer", prompt="Write to {{ input.name }}"),
            node("polish", "agent", agent="polisher", prompt="{{ steps.draft.output }}"),
            node(
                "review",
                "approval",
                title="Reply to {{ input.name }}",
                draft="{{ steps.polish.output }}",
                send_back_to="draft",
                **review,
            ),
            node("send", "end", output="{{ steps.review.output.output }}"),
        ],
        [("draft", "polish"), ("polish", "review"), ("review", "send")],
        agents=[
            scripted(
                "writer",
                "Hi {{ input.name }}, buy now!",
                "Hi {{ input.name }}, as asked: {{ feedback.notes }} (round {{ feedback.round }},"
                " from {{ feedback.decided_by }})",
            ),
            scripted("polisher", "{{ steps.draft.output }}"),
        ],
    )


def start(doc: dict[str, Any], data: dict[str, Any]) -> Run:
    run, _ = runs.run_start(flow=save(doc), input=data)
    return drive(run)


def pending(run: Run) -> Approval:
    return Approval.objects.get(run=run, status="pending")


def test_the_drafting_agent_runs_again_with_the_notes_and_the_run_goes_on(approver: Any) -> None:
    run = start(send_back_flow(), {"name": "Ada"})
    first = pending(run)
    assert first.draft == "Hi Ada, buy now!"
    assert first.round == 0 and first.agent == "writer"

    approval_decide(
        approval_id=first.id,
        user=approver,
        decision=Decision(
            "reject",
            reason="No hard sell; offer a call.",
            send_back=True,
            shown_hash=shown(first.id),
        ),
    )
    run = drive(run)
    first.refresh_from_db()
    assert first.status == "rejected" and first.resolution == "sent_back"

    second = pending(run)
    assert second.round == 1
    assert second.draft == (
        "Hi Ada, as asked: No hard sell; offer a call. (round 1, from approver)"
    )
    # The round ran again as new steps; the first round's steps are kept as they were.
    scopes = list(Step.objects.filter(run=run).order_by("id").values_list("node_id", "scope"))
    assert scopes == [
        ("draft", "~review#0"),
        ("polish", "~review#0"),
        ("review", "~review#0"),
        ("draft", "~review#1"),
        ("polish", "~review#1"),
        ("review", "~review#1"),
    ]
    first_review = Step.objects.get(run=run, node_id="review", scope="~review#0")
    assert first_review.status == "succeeded"
    assert first_review.output["decision"] == "sent_back"
    assert first_review.output["notes"] == "No hard sell; offer a call."
    assert not Step.objects.filter(run=run, node_id="send").exists()  # not signalled, not skipped

    approval_decide(
        approval_id=second.id,
        user=approver,
        decision=Decision("approve", shown_hash=shown(second.id)),
    )
    run = drive(run)
    assert run.status == "succeeded"
    assert run.output == second.draft  # after the round, the latest draft is the one read
    audit = RunEvent.objects.get(kind="approval.decided", data__approval_id=first.id)
    assert audit.data["resolution"] == "sent_back"
    assert audit.data["by"] == "approver"
    assert audit.data["reason"] == "No hard sell; offer a call."


def test_sending_back_needs_notes_and_stops_at_max_send_backs(approver: Any) -> None:
    run = start(send_back_flow("capped", max_send_backs=1), {"name": "Ada"})
    first = pending(run)
    with pytest.raises(ApprovalError, match="needs notes"):
        approval_decide(
            approval_id=first.id,
            user=approver,
            decision=Decision("reject", send_back=True, shown_hash=shown(first.id)),
        )
    approval_decide(
        approval_id=first.id,
        user=approver,
        decision=Decision("reject", reason="again", send_back=True, shown_hash=shown(first.id)),
    )
    second = pending(drive(run))
    with pytest.raises(ApprovalError, match="sent back 1 times already"):
        approval_decide(
            approval_id=second.id,
            user=approver,
            decision=Decision(
                "reject", reason="and again", send_back=True, shown_hash=shown(second.id)
            ),
        )
    assert pending(run).id == second.id


def test_an_approval_without_send_back_to_cannot_send_back(approver: Any) -> None:
    doc = send_back_flow("no-round")
    del doc["nodes"][2]["config"]["send_back_to"]
    run = start(doc, {"name": "Ada"})
    with pytest.raises(ApprovalError, match="cannot send drafts back"):
        approval_decide(
            approval_id=pending(run).id,
            user=approver,
            decision=Decision(
                "reject", reason="x", send_back=True, shown_hash=shown(pending(run).id)
            ),
        )


def test_a_round_inside_a_loop_restarts_inside_the_same_loop_pass(approver: Any) -> None:
    doc = document(
        "round-in-loop",
        [
            node("draft", "agent", agent="writer"),
            node("review", "approval", draft="{{ steps.draft.output }}", send_back_to="draft"),
            node("again", "loop", until="loop.iteration >= 1", max_iterations=3),
            node("done", "end", output="{{ steps.review.output.output }}"),
        ],
        [("draft", "review"), ("review", "again"), ("again", "draft"), ("again", "done")],
        agents=[scripted("writer", "v1", "v2: {{ feedback.notes }}", "v3")],
    )
    run = start(doc, {})
    approval_decide(
        approval_id=pending(run).id,
        user=approver,
        decision=Decision(
            "reject", reason="shorter", send_back=True, shown_hash=shown(pending(run).id)
        ),
    )
    run = drive(run)
    assert pending(run).draft == "v2: shorter"
    approval_decide(
        approval_id=pending(run).id,
        user=approver,
        decision=Decision("approve", shown_hash=shown(pending(run).id)),
    )
    run = drive(run)
    approval_decide(
        approval_id=pending(run).id,
        user=approver,
        decision=Decision("approve", shown_hash=shown(pending(run).id)),
    )
    run = drive(run)
    assert run.status == "succeeded"
    scopes = list(
        Step.objects.filter(run=run, node_id="draft").order_by("id").values_list("scope", flat=True)
    )
    assert scopes == ["again#0/~review#0", "again#0/~review#1", "again#1/~review#0"]
    assert run.output == "v3"
