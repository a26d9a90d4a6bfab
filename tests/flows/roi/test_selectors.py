"""The ROI dashboard's numbers on a data set run through the real engine (real Celery workers
for the agent steps, people deciding in the inbox at known times, outcomes reported a day
later), each checked against arithmetic written out here."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import time_machine

from flows.approvals.decisions import Decision, approval_decide, approval_open
from flows.engine import runner, runs
from flows.models import Approval, FlowVersion, Run, Step
from flows.roi import period_totals
from flows.roi.models import RoiFact, RoiRollup
from flows.roi.rollups import rollup_fold_all
from flows.roi.selectors import flow_dashboard, leaderboard
from flows.triggers.outcomes import outcome_record
from flows.versions import flow_save
from tests.support.flows import document, node, scripted, wait_terminal
from tests.support.wait import wait_for

# committed rows: the decided runs finish on the shared worker process, on its own connection
pytestmark = pytest.mark.django_db(transaction=True)

RUN_MINUTES = 40  # every run here ends (decided or cancelled) 40 minutes after it was created
EDIT = " Thanks."


def _doc(model: str, answer: str) -> dict[str, Any]:
    return document(
        "roi-leads",
        [
            node("write", "agent", agent="writer", prompt="{{ input.topic }}"),
            node(
                "review",
                "approval",
                title="Mail {{ input.email }}",
                draft="{{ steps.write.output }}",
            ),
            node("send", "end", output="{{ steps.review.output.output }}"),
            node("dropped", "end", output="dropped"),
        ],
        [
            ("write", "review"),
            {"from": "review", "to": "send", "when": "steps.review.output.decision == 'approved'"},
            {
                "from": "review",
                "to": "dropped",
                "when": "steps.review.output.decision == 'rejected'",
            },
        ],
        agents=[
            scripted("writer", answer, model=model, price_in_per_1k="0.5", price_out_per_1k="1.5")
        ],
        subject="{{ input.email }}",
        trigger={"type": "manual"},
        feedback={"outcome": "meeting_booked"},
        roi={"baseline_minutes": 12, "hourly_cost": 45, "success_outcome": "meeting_booked"},
    )


def _at(run: Run, minutes: float) -> Any:
    return time_machine.travel(run.created_at + timedelta(minutes=minutes), tick=False)


def _decide(run: Run, user: Any, decision: Decision, *, opened_before: int | None) -> None:
    approval = Approval.objects.get(run=run, status="pending")
    if opened_before is not None:
        with _at(run, RUN_MINUTES - opened_before):
            assert approval_open(approval_id=approval.id, user=user)
    with _at(run, RUN_MINUTES):
        # Decided on what it shows, with the inbox page's measure of the time since opening
        # (credited up to the wall time since the opening: ``flows.approvals.review``).
        active = opened_before * 60_000 if opened_before is not None else None
        bound = replace(decision, shown_hash=approval.shown_hash, active_ms=active)
        approval_decide(approval_id=approval.id, user=user, decision=bound)


def _parked(flow: Any, version: FlowVersion, email: str) -> Run:
    run, _ = runs.run_start(flow=flow, version=version, input={"email": email, "topic": "pricing"})
    wait_for(
        lambda: Approval.objects.filter(run=run, status="pending").exists(),
        message=f"{email} to wait for review",
    )
    run.refresh_from_db()
    return run


def _step_cost(version: FlowVersion) -> tuple[int, int, Decimal]:
    """Tokens in, out and cost of one ``write`` step of ``version`` (the seeded per-call
    numbers: every run of a version sends the same prompt and gets the same answer)."""
    found = set(
        Step.objects.filter(run__version=version, node_id="write").values_list(
            "tokens_in", "tokens_out", "cost"
        )
    )
    assert len(found) == 1, found
    tokens_in, tokens_out, cost = found.pop()
    assert cost == Decimal("0.5") * tokens_in / 1000 + Decimal("1.5") * tokens_out / 1000
    return tokens_in, tokens_out, cost


def test_every_dashboard_number_matches_the_hand_computed_value(
    cast: dict[str, Any], celery_worker: Any
) -> None:
    approver = cast["approver"]
    flow, v1 = flow_save(document=_doc("scripted-m1", "Hello {{ input.email }}, about pricing."))
    _, v2 = flow_save(document=_doc("scripted-m2", "Hi {{ input.email }}: pricing."))
    seeded = {email: _parked(flow, v1, email) for email in "abcdefi"}
    seeded |= {email: _parked(flow, v2, email) for email in "gh"}
    a, b, c, d, e, f, g, h = (seeded[x] for x in "abcdefgh")

    _decide(a, approver, Decision("approve"), opened_before=5)
    draft = str(Approval.objects.get(run=b).draft)
    _decide(b, approver, Decision("approve", output=draft + EDIT), opened_before=10)
    _decide(c, approver, Decision("reject", reason="wrong tone"), opened_before=3)
    _decide(d, approver, Decision("reject", reason="wrong  tone "), opened_before=None)
    with _at(e, RUN_MINUTES):
        runs.run_cancel(run_id=e.id)
    _decide(f, approver, Decision("approve"), opened_before=2)
    _decide(g, approver, Decision("approve"), opened_before=4)
    _decide(h, approver, Decision("reject", reason="too long"), opened_before=None)
    for run in (a, b, c, d, e, f, g, h):
        wait_terminal(run)
    # "i" stays waiting at the review: in flight, and counted at the bottleneck.

    # Outcomes arrive the next day; they count on the runs' day and version.
    with time_machine.travel(a.created_at + timedelta(days=1, hours=2), tick=False):
        outcome_record(subject="a", metric="meeting_booked", flow_slug="roi-leads")
        outcome_record(subject="b", metric="meeting_booked", event_key="b-1")
        outcome_record(subject="b", metric="meeting_booked", event_key="b-2")
        outcome_record(subject="b", metric="meeting_booked", event_key="b-2")  # a repeat
        outcome_record(subject="g", metric="meeting_booked")
        outcome_record(subject="a", metric="deal_won", value="1500.50")

    # A duplicate delivery of a finished step records nothing more.
    facts = RoiFact.objects.count()
    runner.step_execute(step_id=Step.objects.get(run=a, node_id="write").id)
    assert RoiFact.objects.count() == facts

    in1, out1, cost1 = _step_cost(v1)
    in2, out2, cost2 = _step_cost(v2)
    today = a.created_at.astimezone(UTC).date()
    since = today - timedelta(days=6)

    before_fold = flow_dashboard(flow=flow, since=since, until=today)
    assert rollup_fold_all() == facts
    assert RoiFact.objects.count() == 0 and RoiRollup.objects.exists()
    after_fold = flow_dashboard(flow=flow, since=since, until=today)

    for board in (before_fold, after_fold):
        _check(board, today, (in1, out1, cost1), (in2, out2, cost2))

    totals = period_totals(
        since=datetime(since.year, since.month, since.day, tzinfo=UTC),
        until=datetime(today.year, today.month, today.day, tzinfo=UTC) + timedelta(days=1),
    )
    # 7 agent steps on v1 (a-f and i), 2 on v2.
    ai_cost = 7 * cost1 + 2 * cost2
    assert totals["runs"] == 8 + 1  # ended + in flight
    assert totals["in_flight"] == 1
    assert (totals["succeeded"], totals["failed"], totals["cancelled"]) == (7, 0, 1)
    assert totals["tokens"] == 7 * (in1 + out1) + 2 * (in2 + out2)
    assert totals["cost"] == ai_cost
    assert totals["human_minutes"] == Decimal(5 + 10 + 3 + 2 + 4)
    assert totals["time_saved_minutes"] == Decimal(12 * 3 - 24)
    assert totals["net_roi"] == Decimal(12) * 45 / 60 - ai_cost
    assert totals["outcomes"] == 5  # 1 (a) + 2 (b, the repeat is not one) + 1 (g) + deal_won

    ranked = leaderboard(since=since, until=today)
    assert [row["slug"] for row in ranked] == ["roi-leads"]
    assert ranked[0]["net_roi"] == Decimal("9") - ai_cost

    # A period that ends before the runs started shows nothing.
    empty = flow_dashboard(
        flow=flow, since=since - timedelta(days=30), until=since - timedelta(days=1)
    )
    assert empty.volume["runs"] == 0 and empty.value.net_roi == 0


def _check(
    board: Any, today: date, v1: tuple[int, int, Decimal], v2: tuple[int, int, Decimal]
) -> None:
    (in1, out1, cost1), (in2, out2, cost2) = v1, v2
    volume = board.volume
    # Ended runs: a, b, c, d, f, g, h succeeded (rejections end at "dropped"), e cancelled.
    assert (volume["runs"], volume["succeeded"], volume["failed"], volume["cancelled"]) == (
        8,
        7,
        0,
        1,
    )
    assert volume["in_flight"] == 1
    # Every run took exactly 40 min = 2,400,000 ms, all in the bucket [1,800,000, 3,600,000).
    assert volume["avg_ms"] == 2_400_000
    # Few runs: percentiles are exact (percentile_cont over the raw rows), not a bucket bound.
    assert volume["percentiles"] == "exact"
    assert volume["p50_ms"] == 2_400_000
    assert volume["p95_ms"] == 2_400_000

    cost = board.cost
    assert cost["tokens_in"] == 7 * in1 + 2 * in2
    assert cost["tokens_out"] == 7 * out1 + 2 * out2
    assert cost["model_cost"] == 7 * cost1 + 2 * cost2
    assert cost["tool_cost"] == 0
    assert cost["ai_cost"] == 7 * cost1 + 2 * cost2
    assert [(row.label, row["calls"], row["cost"]) for row in board.agents] == [
        ("writer", 9, 7 * cost1 + 2 * cost2)
    ]
    models = {row.label: (row["calls"], row["tokens_in"], row["cost"]) for row in board.models}
    assert models == {
        "scripted-m1": (7, 7 * in1, 7 * cost1),
        "scripted-m2": (2, 2 * in2, 2 * cost2),
    }

    value = board.value
    assert board.definition.cases_rule == "runs with a 'meeting_booked' outcome"
    assert value.cases == 3  # a, b (two events, one run), g
    assert value.human_minutes == Decimal(24)  # 5 (a) + 10 (b) + 3 (c) + 2 (f) + 4 (g)
    assert value.time_saved_minutes == Decimal(12)  # 12 min x 3 cases - 24
    assert value.money_saved == Decimal(9)  # 12 min x 45 / 60
    assert value.net_roi == Decimal(9) - (7 * cost1 + 2 * cost2)
    outcomes = {row.label: row.values for row in board.outcomes}
    assert outcomes["meeting_booked"] == {
        "events": 4,
        "runs": 3,
        "per_100_runs": Decimal("37.5"),  # 3 runs of 8 x 100
        "value": Decimal(4),
    }
    assert outcomes["deal_won"] == {
        "events": 1,
        "runs": 1,
        "per_100_runs": Decimal("12.5"),  # 1 of 8
        "value": Decimal("1500.5"),
    }

    quality = board.quality
    assert (quality["approved"], quality["edited"], quality["rejected"]) == (3, 1, 3)
    assert quality["human_decisions"] == 7
    assert quality["approval_rate"] == pytest.approx(4 / 7)  # a, b, f, g of 7 decided
    assert quality["edit_rate"] == pytest.approx(1 / 4)  # b of the 4 approved
    assert quality["avg_edit_distance"] == len(EDIT)  # b: the 8 characters appended
    assert quality["escalations"] == 0
    assert quality["avg_review_minutes"] == pytest.approx(24 / 5)
    assert [(row.label, row["count"]) for row in board.reasons] == [
        ("wrong tone", 2),
        ("too long", 1),
    ]

    versions = {row.label: row.values for row in board.versions}
    # v1: a, b, c, d, f succeeded, e cancelled; cases a, b; human 5 + 10 + 3 + 2 = 20 min.
    assert (versions["v1"]["runs"], versions["v1"]["succeeded"], versions["v1"]["cases"]) == (
        6,
        5,
        2,
    )
    assert versions["v1"]["time_saved_minutes"] == Decimal(12 * 2 - 20)
    assert versions["v1"]["money_saved"] == Decimal(3)  # 4 min x 45 / 60
    assert versions["v1"]["ai_cost"] == 7 * cost1
    # v2: g, h succeeded; case g; human 4 min.
    assert (versions["v2"]["runs"], versions["v2"]["cases"]) == (2, 1)
    assert versions["v2"]["net_roi"] == Decimal(6) - 2 * cost2  # (12 - 4) x 45 / 60 - cost

    days = {row.label: row.values for row in board.days}
    assert len(days) == 7
    assert days[today.isoformat()]["runs"] == 8
    assert days[today.isoformat()]["net_roi"] == value.net_roi
    assert sum(row["runs"] for row in board.days) == 8

    nodes = {row.label: row.values for row in board.nodes}
    assert nodes["write"]["steps"] == 9 and nodes["write"]["failed"] == 0
    assert nodes["review"]["approvals_pending"] == 1  # i
    assert nodes["review"]["waiting_now"] == 1
    assert nodes["review"]["avg_review_minutes"] == pytest.approx(24 / 5)
    assert nodes["review"]["avg_wait_ms"] is not None
