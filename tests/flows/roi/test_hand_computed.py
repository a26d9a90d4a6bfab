"""Hand-computed ROI, on real workers.

A parent flow whose subflow step runs a child flow: the parent run's tokens and cost are its own
plus the child's, the parent flow's dashboard (HTML and ``/api/flows/<slug>/roi``) shows exactly
those numbers with exact percentiles, the totals over every flow count the child's money once,
and an outcome for a subject no run worked on is refused (422 ``no_matching_run``).

One flow, five runs with known durations, review times, token counts and prices, one rejection
no edge continues and one subflow: every number of the dashboard, the API and the page equals
the arithmetic written out in the test — exact percentiles for the small range, and the same
numbers (percentiles within the stated ±1 %) once the facts are folded into rollups and the
sketch answers."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import time_machine
from django.test import Client

from controlroom.accounts import token_issue
from flows.approvals.decisions import Decision, approval_decide, approval_open
from flows.engine import runs
from flows.models import Approval, Outcome, Run, Step
from flows.roi import period_totals, selectors
from flows.roi.models import RoiFact
from flows.roi.rollups import rollup_fold_all
from flows.roi.selectors import flow_dashboard
from flows.states import RUN_TERMINAL
from flows.versions import flow_save
from tests.support.flows import document, node, scripted, wait_terminal
from tests.support.wait import wait_for

# committed rows: the runs execute on the shared worker process, on its own connection
pytestmark = pytest.mark.django_db(transaction=True)


def _flows() -> Any:
    flow_save(
        document=document(
            "hc-child",
            [node("enrich", "agent", agent="enricher", prompt="{{ input.email }}")],
            [],
            agents=[
                scripted(
                    "enricher", "rich", model="m-child", price_in_per_1k="2", price_out_per_1k="4"
                )
            ],
            subject="{{ input.email }}",
        )
    )
    parent, _ = flow_save(
        document=document(
            "hc-parent",
            [
                node("write", "agent", agent="writer", prompt="{{ input.email }}"),
                node("child", "subflow", flow="hc-child", input={"email": "{{ input.email }}"}),
            ],
            [("write", "child")],
            agents=[
                scripted(
                    "writer", "draft", model="m-parent", price_in_per_1k="1", price_out_per_1k="3"
                )
            ],
            subject="{{ input.email }}",
            roi={"baseline_minutes": 10, "hourly_cost": 60, "success_outcome": ""},
        )
    )
    return parent


def _usage(step: Step) -> tuple[int, int, Decimal]:
    return step.tokens_in, step.tokens_out, step.cost


def test_a_parent_runs_cost_includes_its_subflow_and_every_view_says_so(
    cast: dict[str, Any], celery_worker: Any
) -> None:
    parent = _flows()
    run, _ = runs.run_start(flow=parent, input={"email": "ann@x.test"})
    assert wait_terminal(run).status == "succeeded"
    child = Run.objects.get(parent_step__run=run)
    assert child.status == "succeeded"

    own_in, own_out, own_cost = _usage(Step.objects.get(run=run, node_id="write"))
    c_in, c_out, c_cost = _usage(Step.objects.get(run=child, node_id="enrich"))
    # The prices written above, by hand: 1/3 per 1k for the parent, 2/4 for the child.
    assert own_cost == (Decimal(1) * own_in + Decimal(3) * own_out) / 1000
    assert c_cost == (Decimal(2) * c_in + Decimal(4) * c_out) / 1000 and c_cost > 0
    run.refresh_from_db()
    assert (run.tokens_in, run.tokens_out) == (own_in + c_in, own_out + c_out)
    assert run.cost == own_cost + c_cost
    subflow_step = Step.objects.get(run=run, node_id="child")
    assert (subflow_step.model, subflow_step.cost) == ("subflow:hc-child", c_cost)

    today = run.created_at.astimezone(UTC).date()
    board = flow_dashboard(flow=parent, since=today, until=today)
    assert board.cost["ai_cost"] == own_cost + c_cost
    assert board.cost["tokens_in"] == own_in + c_in
    models = {row.label: row["cost"] for row in board.models}
    assert models == {"m-parent": own_cost, "subflow:hc-child": c_cost}
    # One run: exact percentiles equal its own duration (created -> finished).
    assert run.finished_at is not None
    duration_ms = (run.finished_at - run.created_at).total_seconds() * 1000
    assert board.volume["percentiles"] == "exact"
    assert board.volume["p50_ms"] == pytest.approx(duration_ms, abs=0.01)
    assert board.volume["p95_ms"] == pytest.approx(duration_ms, abs=0.01)
    # No success outcome: the one succeeded run is the case; 10 min x 60/h = 10, minus AI cost.
    assert board.value.cases == 1
    assert board.value.net_roi == Decimal(10) - own_cost - c_cost

    api = Client(HTTP_AUTHORIZATION=f"Bearer {token_issue(user=cast['viewer'])}")
    body = api.get(f"/api/flows/hc-parent/roi?since={today}&until={today}").json()
    assert Decimal(body["cost"]["ai_cost"]) == own_cost + c_cost
    assert body["volume"]["percentiles"] == "exact"
    assert Decimal(body["value"]["net_roi"]) == Decimal(10) - own_cost - c_cost
    assert {row["model"]: Decimal(row["cost"]) for row in body["models"]} == models

    page = Client()
    page.force_login(cast["viewer"])
    html = page.get(f"/flows/hc-parent/roi/?since={today}&until={today}").content.decode()
    assert "subflow:hc-child" in html and "exact" in html

    # Over every flow the child's money counts once: the parent's own + the child run's.
    start = datetime(today.year, today.month, today.day, tzinfo=UTC)
    totals = period_totals(since=start, until=start + timedelta(days=1))
    assert totals["cost"] == own_cost + c_cost
    assert totals["tokens"] == own_in + own_out + c_in + c_out


def test_an_outcome_for_a_subject_no_run_worked_on_is_refused(cast: dict[str, Any]) -> None:
    api = Client(HTTP_AUTHORIZATION=f"Bearer {token_issue(user=cast['designer'])}")
    response = api.post(
        "/api/outcomes",
        {"subject": "nobody@x.test", "metric": "meeting_booked"},
        content_type="application/json",
    )
    assert response.status_code == 422, response.content
    error = response.json()["error"]
    assert error["code"] == "no_matching_run"
    assert error["details"][0]["pointer"] == "/subject"
    assert "nobody@x.test" in error["message"]
    assert not Outcome.objects.exists()


# --- one flow, five runs, every number by hand -------------------------------------------------
#
# The scripted model counts a token per 4 characters, rounded up (``agents.providers.scripted``):
# tokens in = tokens(instructions) + tokens(prompt), tokens out = tokens(answer). So texts of
# known lengths give known token counts, and the prices written below give known costs.
WRITER_INSTRUCTIONS = "rule" * 10  # 40 chars  -> 10 tokens
WRITER_PROMPT = "wxyz" * 100  # 400 chars -> 100 tokens
WRITER_ANSWER = "abcd" * 50  # 200 chars -> 50 tokens
# writer: 10 + 100 = 110 tokens in, 50 out; at 1 per 1k in and 3 per 1k out:
WRITE_IN, WRITE_OUT = 110, 50
WRITE_COST = Decimal("0.11") + Decimal("0.15")  # 110 x 1 / 1000 + 50 x 3 / 1000 = 0.26
ENRICHER_INSTRUCTIONS = "look" * 5  # 20 chars  -> 5 tokens
ENRICHER_PROMPT = "find" * 45  # 180 chars -> 45 tokens
ENRICHER_ANSWER = "acme" * 25  # 100 chars -> 25 tokens
# enricher (the subflow's agent): 5 + 45 = 50 tokens in, 25 out; at 2 per 1k in, 4 per 1k out:
CHILD_IN, CHILD_OUT = 50, 25
CHILD_COST = Decimal("0.1") + Decimal("0.1")  # 50 x 2 / 1000 + 25 x 4 / 1000 = 0.20
BASELINE_MINUTES, HOURLY_COST = 15, 48
MINUTE_MS = 60_000


def _leads_flow() -> Any:
    """write (agent) -> route -> [enrich (subflow, VIP leads only)] -> review (approval) -> send.
    The review has no rejection edge: a rejection ends the run failed/rejected."""
    flow_save(
        document=document(
            "hc-enrich",
            [node("look_up", "agent", agent="enricher", prompt=ENRICHER_PROMPT)],
            [],
            agents=[
                scripted(
                    "enricher",
                    ENRICHER_ANSWER,
                    model="m-enrich",
                    instructions=ENRICHER_INSTRUCTIONS,
                    price_in_per_1k="2",
                    price_out_per_1k="4",
                )
            ],
            subject="{{ input.email }}",
        )
    )
    flow, _ = flow_save(
        document=document(
            "hc-leads",
            [
                node("write", "agent", agent="writer", prompt=WRITER_PROMPT),
                node("route", "router"),
                node("enrich", "subflow", flow="hc-enrich", input={"email": "{{ input.email }}"}),
                node(
                    "review",
                    "approval",
                    title="Mail {{ input.email }}",
                    draft="{{ steps.write.output }}",
                ),
                node("send", "end", output="{{ steps.review.output.output }}"),
            ],
            [
                ("write", "route"),
                {"from": "route", "to": "enrich", "when": "input.vip"},
                ("route", "review"),
                ("enrich", "review"),
                ("review", "send"),
            ],
            agents=[
                scripted(
                    "writer",
                    WRITER_ANSWER,
                    model="m-write",
                    instructions=WRITER_INSTRUCTIONS,
                    price_in_per_1k="1",
                    price_out_per_1k="3",
                )
            ],
            subject="{{ input.email }}",
            roi={
                "baseline_minutes": BASELINE_MINUTES,
                "hourly_cost": HOURLY_COST,
                "success_outcome": "",
            },
        )
    )
    return flow


def _parked_run(flow: Any, email: str, *, vip: bool = False) -> Run:
    run, _ = runs.run_start(flow=flow, input={"email": email, "vip": vip})
    wait_for(
        lambda: (
            Approval.objects.filter(run=run, status="pending").exists()
            or Run.objects.filter(id=run.id, status__in=RUN_TERMINAL).exists()
        ),
        message=f"{email} to wait for review",
    )
    run.refresh_from_db()
    assert run.status == "waiting_approval", (run.status, run.error)
    return run


def _at(run: Run, minutes: float) -> Any:
    """The clock stopped ``minutes`` after ``run`` was created (its duration's end)."""
    return time_machine.travel(run.created_at + timedelta(minutes=minutes), tick=False)


def _inbox_decide(run: Run, user: Any, *, at: int, active: int, decision: Decision) -> None:
    """Open the approval ``active`` minutes before minute ``at`` and decide at ``at`` with the
    inbox's measure of ``active`` minutes on screen (credited up to the wall time since the
    opening, which is exactly ``active`` minutes here)."""
    approval = Approval.objects.get(run=run, status="pending")
    with _at(run, at - active):
        approval_open(approval_id=approval.id, user=user)
    with _at(run, at):
        bound = replace(decision, shown_hash=approval.shown_hash, active_ms=active * MINUTE_MS)
        approval_decide(approval_id=approval.id, user=user, decision=bound)


def _api_decide(run: Run, api: Client, *, at: int, **body: Any) -> None:
    approval = Approval.objects.get(run=run, status="pending")
    with _at(run, at):
        response = api.post(
            f"/api/approvals/{approval.id}/decision",
            {"decision": "approve", "shown_hash": approval.shown_hash, **body},
            content_type="application/json",
        )
    assert response.status_code == 200, response.content


def test_every_number_of_a_flow_with_a_rejection_and_a_subflow_is_the_hand_computed_one(
    cast: dict[str, Any], celery_worker: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    flow = _leads_flow()
    approver = cast["approver"]
    api = Client(HTTP_AUTHORIZATION=f"Bearer {token_issue(user=approver)}")
    r1, r2, r3 = (_parked_run(flow, f"{name}@x.test") for name in ("r1", "r2", "r3"))
    r4 = _parked_run(flow, "r4@x.test", vip=True)  # through the subflow
    r5 = _parked_run(flow, "r5@x.test")

    # Decisions (the run ends at the decision, so its duration is the minute it is made at):
    _inbox_decide(r1, approver, at=10, active=4, decision=Decision("approve"))
    _api_decide(r2, api, at=20, review_seconds=90)  # reported by the client: 1.5 min
    _api_decide(r3, api, at=30)  # no review_seconds: not measured
    _inbox_decide(r4, approver, at=40, active=6, decision=Decision("approve"))
    _inbox_decide(r5, approver, at=50, active=2, decision=Decision("reject", reason="wrong tone"))
    for run in (r1, r2, r3, r4):
        assert wait_terminal(run).status == "succeeded", (run.status, run.error)
    # Rejected, and no edge continues it: failed, class "rejected", the reason as the error.
    assert wait_terminal(r5).status == "failed"
    assert (r5.error_class, r5.error) == ("rejected", "wrong tone")
    assert not Step.objects.filter(run=r5, node_id="send", status="succeeded").exists()

    # The per-call usage is what the texts' lengths and the prices say.
    for step in Step.objects.filter(run__flow=flow, node_id="write"):
        assert (step.tokens_in, step.tokens_out, step.cost) == (WRITE_IN, WRITE_OUT, WRITE_COST)
    child = Run.objects.get(parent_step__run=r4)
    assert (child.tokens_in, child.tokens_out, child.cost) == (CHILD_IN, CHILD_OUT, CHILD_COST)
    r4.refresh_from_db()
    assert r4.cost == WRITE_COST + CHILD_COST  # 0.26 + 0.20: the child's cost rolls up

    # --- the hand computation -------------------------------------------------------------
    runs_ended, succeeded, failed = 5, 4, 1  # r1-r4 succeeded, r5 rejected
    success_rate = 4 / 5  # 0.8
    # Durations (created -> ended): 10, 20, 30, 40, 50 min.
    durations = [10 * MINUTE_MS, 20 * MINUTE_MS, 30 * MINUTE_MS, 40 * MINUTE_MS, 50 * MINUTE_MS]
    # Exact percentiles (linear interpolation at rank q x (n - 1)):
    # p50: rank 0.5 x 4 = 2 -> the 3rd duration, 30 min = 1,800,000 ms.
    p50 = 1_800_000
    # p95: rank 0.95 x 4 = 3.8 -> 40 min + 0.8 x (50 - 40) min = 48 min = 2,880,000 ms.
    p95 = 2_880_000
    assert sorted(durations)[2] == p50
    assert durations[3] + 0.8 * (durations[4] - durations[3]) == p95
    # Review: inbox 4 + 6 + 2 = 12 min (3 decisions), API-reported 90 s = 1.5 min (1),
    # not measured 1 (r3): 13.5 min human review, 13.5 / 4 measured = 3.375 min per item.
    human_minutes = Decimal("13.5")
    avg_review = 13.5 / 4
    # No success outcome: the cases are the succeeded runs, 4.
    cases = 4
    time_saved = Decimal(BASELINE_MINUTES * cases) - human_minutes  # 60 - 13.5 = 46.5 min
    money_saved = time_saved * HOURLY_COST / 60  # 46.5 x 48 / 60 = 37.20
    # Cost: 5 writer calls (every run, the rejected one too) and one subflow (r4's child).
    model_cost = 5 * WRITE_COST + CHILD_COST  # 1.30 + 0.20 = 1.50
    tokens_in = 5 * WRITE_IN + CHILD_IN  # 550 + 50 = 600
    tokens_out = 5 * WRITE_OUT + CHILD_OUT  # 250 + 25 = 275
    net_roi = money_saved - model_cost  # 37.20 - 1.50 = 35.70
    cost_per_run = model_cost / 5  # 0.30
    assert (time_saved, money_saved, model_cost, net_roi) == (
        Decimal("46.5"),
        Decimal("37.2"),
        Decimal("1.5"),
        Decimal("35.7"),
    )
    by_model = {
        "m-write": (5, 5 * WRITE_IN, 5 * WRITE_OUT, 5 * WRITE_COST),
        "subflow:hc-enrich": (1, CHILD_IN, CHILD_OUT, CHILD_COST),
    }

    today = r1.created_at.astimezone(UTC).date()
    last = r5.created_at.astimezone(UTC).date()  # the same day, unless midnight fell between
    period = f"since={today}&until={last}"

    # --- the dashboard, the API and the page ------------------------------------------------
    board = flow_dashboard(flow=flow, since=today, until=last)
    volume, cost, quality = board.volume, board.cost, board.quality
    assert (volume["runs"], volume["succeeded"], volume["failed"]) == (
        runs_ended,
        succeeded,
        failed,
    )
    assert (volume["cancelled"], volume["in_flight"]) == (0, 0)
    assert volume["success_rate"] == pytest.approx(success_rate)
    assert volume["percentiles"] == "exact"
    assert volume["p50_ms"] == pytest.approx(p50, abs=0.01)
    assert volume["p95_ms"] == pytest.approx(p95, abs=0.01)
    assert volume["avg_ms"] == sum(durations) / 5  # 30 min
    assert (cost["tokens_in"], cost["tokens_out"]) == (tokens_in, tokens_out)
    assert cost["model_cost"] == cost["ai_cost"] == model_cost and cost["tool_cost"] == 0
    assert cost["cost_per_run"] == cost_per_run
    usage = {
        row.label: (row["calls"], row["tokens_in"], row["tokens_out"], row["cost"])
        for row in board.models
    }
    assert usage == by_model
    value = board.value
    assert (value.cases, value.human_minutes, value.time_saved_minutes) == (
        cases,
        human_minutes,
        time_saved,
    )
    assert (value.money_saved, value.ai_cost, value.net_roi) == (money_saved, model_cost, net_roi)
    assert (quality["human_decisions"], quality["approved"], quality["rejected"]) == (5, 4, 1)
    assert (quality["reviewed"], quality["reported"], quality["unmeasured"]) == (3, 1, 1)
    assert quality["approval_rate"] == pytest.approx(4 / 5)
    assert quality["avg_review_minutes"] == pytest.approx(avg_review)
    assert [(row.label, row["count"]) for row in board.reasons] == [("wrong tone", 1)]
    nodes = {row.label: row.values for row in board.nodes}
    assert nodes["review"]["avg_review_minutes"] == pytest.approx(avg_review)
    assert (nodes["write"]["steps"], nodes["write"]["failed"]) == (5, 0)

    body = api.get(f"/api/flows/hc-leads/roi?{period}").json()
    assert body["volume"] == {
        "runs": 5,
        "succeeded": 4,
        "failed": 1,
        "cancelled": 0,
        "in_flight": 0,
        "success_rate": 0.8,
        "p50_ms": 1_800_000.0,
        "p95_ms": 2_880_000.0,
        "avg_ms": 1_800_000.0,
        "percentiles": "exact",
    }
    assert {k: Decimal(v) for k, v in body["cost"].items()} == {
        "tokens_in": 600,
        "tokens_out": 275,
        "model_cost": Decimal("1.5"),
        "tool_cost": 0,
        "ai_cost": Decimal("1.5"),
        "cost_per_run": Decimal("0.3"),
    }
    assert {k: Decimal(str(v)) for k, v in body["value"].items()} == {
        "cases": 4,
        "human_minutes": Decimal("13.5"),
        "time_saved_minutes": Decimal("46.5"),
        "money_saved": Decimal("37.2"),
        "ai_cost": Decimal("1.5"),
        "net_roi": Decimal("35.7"),
    }
    assert body["quality"]["rejected"] == 1
    assert (body["quality"]["reviewed"], body["quality"]["reported"]) == (3, 1)
    assert body["quality"]["unmeasured"] == 1
    assert body["quality"]["avg_review_minutes"] == 3.375
    assert {
        row["model"]: (row["calls"], row["tokens_in"], row["tokens_out"], Decimal(row["cost"]))
        for row in body["models"]
    } == by_model

    page = Client()
    page.force_login(cast["viewer"])
    html = " ".join(page.get(f"/flows/hc-leads/roi/?{period}").content.decode().split())
    for shown_text in (
        '<span class="kpi-value">5</span>',  # runs ended
        "4 succeeded · 1 failed · 0 cancelled",
        '<span class="kpi-value">30 min 00 s</span>',  # p50: 1,800,000 ms
        "p95 48 min 00 s",  # 2,880,000 ms
        "<span data-precision>exact</span>",
        '<span class="kpi-value">$1.50</span>',  # AI cost
        "875 tokens",  # 600 in + 275 out
        '<span class="kpi-value">13.5 min</span>',  # human review
        '<span class="kpi-value">46.5 min</span>',  # time saved
        "4 cases \N{MULTIPLICATION SIGN} 15 min \N{MINUS SIGN} review",
        '<span class="kpi-value">$35.70</span>',  # net ROI
        "saved $37.20 \N{MINUS SIGN} AI cost",
        '<td class="num">80%</td>',  # v1's success rate
        "<dt>Rejected / sent back</dt><dd>1 / 0</dd>",
        "<dt>Decided by people</dt><dd>5</dd>",
        "<dt>Approval rate</dt><dd>80%</dd>",
        "<dt>Review time per item</dt><dd>3.4 min</dd>",  # 3.375
        "measured in the inbox for 3 decisions, reported by API clients for 1, not measured for 1",
        "“wrong tone”",
        # Cost by model: m-write 5 calls, 550 in, 250 out, $1.30; the subflow 1, 50, 25, $0.20.
        '<th scope="row" class="mono">m-write</th><td class="num">5</td>'
        '<td class="num">550</td><td class="num">250</td><td class="num">$1.30</td>',
        '<th scope="row" class="mono">subflow:hc-enrich</th><td class="num">1</td>'
        '<td class="num">50</td><td class="num">25</td><td class="num">$0.20</td>',
    ):
        assert shown_text in html, shown_text

    # Over every flow, the child's money counts once (on its own flow): same totals.
    start = datetime(today.year, today.month, today.day, tzinfo=UTC)
    end = datetime(last.year, last.month, last.day, tzinfo=UTC) + timedelta(days=1)
    totals = period_totals(since=start, until=end)
    assert (totals["cost"], totals["tokens"]) == (model_cost, tokens_in + tokens_out)
    assert (totals["succeeded"], totals["failed"]) == (4 + 1, 1)  # + the child run

    # --- a rollup-backed range: folded facts, percentiles from the sketch (±1 %) ---------------
    rollup_fold_all()
    assert not RoiFact.objects.exists()
    monkeypatch.setattr(selectors, "EXACT_MAX_RUNS", 0)  # as a range of over 20,000 runs would
    folded = flow_dashboard(flow=flow, since=today, until=last)
    assert folded.volume["percentiles"] == "±1 %"
    assert folded.volume["p50_ms"] == pytest.approx(p50, rel=0.01)
    assert folded.volume["p95_ms"] == pytest.approx(p95, rel=0.01)
    assert folded.volume | {"p50_ms": None, "p95_ms": None, "percentiles": None} == volume | {
        "p50_ms": None,
        "p95_ms": None,
        "percentiles": None,
    }
    assert folded.cost == cost and folded.value == value and folded.quality == quality
    body = api.get(f"/api/flows/hc-leads/roi?{period}").json()
    assert body["volume"]["percentiles"] == "±1 %"
    assert body["volume"]["p95_ms"] == pytest.approx(p95, rel=0.01)
    html = page.get(f"/flows/hc-leads/roi/?{period}").content.decode()
    assert "<span data-precision>±1 %</span>" in html
