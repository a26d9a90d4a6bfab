"""Hand-computed ROI across a subflow, on real workers: a parent flow whose subflow step runs a
child flow; the parent run's tokens and cost are its own plus the child's, the parent flow's
dashboard (HTML and ``/api/flows/<slug>/roi``) shows exactly those numbers with exact
percentiles, the totals over every flow count the child's money once, and an outcome for a
subject no run worked on is refused (422 ``no_matching_run``), never a silent 201."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client

from controlroom.accounts import token_issue
from flows.engine import runs
from flows.models import Outcome, Run, Step
from flows.roi import period_totals
from flows.roi.selectors import flow_dashboard
from flows.versions import flow_save
from tests.support.flows import document, node, scripted, wait_terminal

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
