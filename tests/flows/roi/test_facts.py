"""Facts recorded where things happen: tool calls of agent steps, escalations, automatic
decisions, and outcomes that are not the run's first of their metric."""

from __future__ import annotations

from datetime import UTC, timedelta
from typing import Any

import pytest
from django.utils import timezone

from flows.approvals.decisions import Decision, approval_decide
from flows.engine import reconciler, runs
from flows.models import Approval, Run
from flows.roi.selectors import flow_dashboard
from flows.triggers.outcomes import outcome_record
from tests.support.approvals import parked, review_flow, shown
from tests.support.flows import document, drive, node, save, scripted

pytestmark = pytest.mark.django_db


def _board(run: Run) -> Any:
    day = run.created_at.astimezone(UTC).date()
    return flow_dashboard(flow=run.flow, since=day, until=day)


def test_an_agents_tool_calls_count_per_tool() -> None:
    email = {"to": "ada@example.com", "subject": "Hi", "body": "Hello"}
    agent = scripted(
        "mailer",
        {
            "tool_calls": [
                {"name": "send_email", "arguments": email},
                {"name": "send_email", "arguments": {**email, "to": "bob@example.com"}},
            ],
            "then": "sent",
        },
        tools=["send_email"],
    )
    flow = save(document("mail", [node("mail", "agent", agent="mailer")], [], agents=[agent]))
    run = drive(runs.run_start(flow=flow, input={})[0])
    assert run.status == "succeeded", run.error
    board = _board(run)
    # One agent step, two e-mails sent: 2 calls of send_email at no tool price.
    assert [(row.label, row["calls"], row["cost"]) for row in board.tools] == [("send_email", 2, 0)]
    assert [(row.label, row["calls"]) for row in board.agents] == [("mailer", 1)]


def test_escalations_and_automatic_decisions_are_counted_apart_from_people(
    cast: dict[str, Any],
) -> None:
    run, approval = parked(
        review_flow(
            deadline_minutes=30,
            on_deadline="escalate",
            escalate_to="admin",
            escalation_deadline_minutes=10,
        )
    )
    Approval.objects.filter(id=approval.id).update(
        deadline_at=timezone.now() - timedelta(seconds=1)
    )
    assert reconciler.fire_due_approvals() == 1  # escalated to admins, still pending
    approval_decide(
        approval_id=approval.id,
        user=cast["admin"],
        decision=Decision("reject", reason="no", shown_hash=shown(approval.id)),
    )
    quality = _board(run).quality
    assert quality["escalations"] == 1
    assert (quality["rejected"], quality["human_decisions"], quality["auto_decided"]) == (1, 1, 0)


def test_an_outcome_repeated_for_a_run_counts_as_an_event_not_a_second_case(
    cast: dict[str, Any],
) -> None:
    run, approval = parked(review_flow() | {"subject": "{{ input.topic }}"})
    approval_decide(
        approval_id=approval.id,
        user=cast["approver"],
        decision=Decision("approve", shown_hash=shown(approval.id)),
    )
    for _ in range(3):
        outcome_record(subject="pricing", metric="meeting_booked")
    (row,) = _board(run).outcomes
    assert (row.label, row["events"], row["runs"]) == ("meeting_booked", 3, 1)
