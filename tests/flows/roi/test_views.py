"""The ROI pages, their CSV tables and the JSON API: roles, periods, the numbers shown."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from django.test import Client

from controlroom.accounts import token_issue
from flows.approvals.decisions import Decision, approval_decide
from flows.engine import runs
from flows.models import Approval
from flows.triggers.outcomes import outcome_record
from tests.support.approvals import review_flow, shown
from tests.support.flows import drive, save

pytestmark = pytest.mark.django_db


def _client(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def seeded(cast: dict[str, Any]) -> Any:
    """Three runs of a review flow: two approved (one gets a meeting booked), one rejected."""
    doc = review_flow("roi-page") | {
        "subject": "{{ input.topic }}",
        "roi": {"baseline_minutes": 30, "hourly_cost": 60, "success_outcome": "meeting_booked"},
    }
    flow = save(doc)
    for topic, decision in (("t1", "approve"), ("t2", "approve"), ("t3", "reject")):
        run, _ = runs.run_start(flow=flow, input={"topic": topic})
        drive(run)
        approval = Approval.objects.get(run=run, status="pending")
        approval_decide(
            approval_id=approval.id,
            user=cast["approver"],
            decision=Decision(
                decision,
                reason="off topic" if decision == "reject" else "",
                shown_hash=shown(approval.id),
            ),
        )
    outcome_record(subject="t1", metric="meeting_booked")
    return flow


def test_the_dashboard_shows_the_flows_numbers_and_definitions(
    seeded: Any, cast: dict[str, Any]
) -> None:
    response = _client(cast["viewer"]).get("/flows/roi-page/roi/?days=7")
    assert response.status_code == 200
    html = response.content.decode()
    board = response.context["board"]
    assert board.volume["runs"] == 3 and board.volume["succeeded"] == 3
    # 1 case (t1's meeting) x 30 min, no review time measured (nobody opened the items).
    assert board.value.time_saved_minutes == 30
    assert "runs with a &#x27;meeting_booked&#x27; outcome" in html
    assert "“off topic”" in html
    assert 'id="bottlenecks"' in html and 'data-roi-chart="trend"' in html
    assert 'id="roi-chart-data"' in html
    assert 'href="/flows/roi-page/roi.csv?days=7&amp;table=nodes"' in html


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("days=12", "days: choose 7, 30 or 90"),
        ("since=2026-13-01", "since: give a date as YYYY-MM-DD"),
        ("since=2026-05-02&until=2026-05-01", "until: must not be before since"),
        ("since=2020-01-01&until=2026-01-01", "since: a period is at most 366 days"),
    ],
)
def test_a_bad_period_is_a_400_that_says_what_to_fix(
    seeded: Any, cast: dict[str, Any], query: str, message: str
) -> None:
    response = _client(cast["viewer"]).get(f"/flows/roi-page/roi/?{query}")
    assert response.status_code == 400
    assert message in response.content.decode()


def test_roles_are_checked_on_every_roi_page(seeded: Any, cast: dict[str, Any]) -> None:
    for path in ("/flows/roi-page/roi/", "/flows/roi-page/roi.csv", "/roi/", "/roi/export.csv"):
        assert _client(cast["outsider"]).get(path).status_code == 403, path
        anonymous = Client().get(path)
        assert anonymous.status_code == 302 and "/login" in anonymous["Location"], path
        assert _client(cast["viewer"]).get(path).status_code == 200, path
    assert _client(cast["viewer"]).get("/flows/nope/roi/").status_code == 404


def test_each_table_exports_as_csv(seeded: Any, cast: dict[str, Any]) -> None:
    client = _client(cast["viewer"])
    response = client.get("/flows/roi-page/roi.csv?days=30&table=reasons")
    assert response["Content-Type"] == "text/csv"
    assert "attachment" in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert rows == [{"reason": "off topic", "node": "review", "count": "1"}]
    summary = list(csv.reader(io.StringIO(client.get("/flows/roi-page/roi.csv").content.decode())))
    assert ["value", "time_saved_minutes", "30"] in summary
    assert ["volume", "runs", "3"] in summary
    bad = client.get("/flows/roi-page/roi.csv?table=secrets")
    assert bad.status_code == 400 and b"table: choose one of" in bad.content


def test_the_leaderboard_ranks_filters_and_exports(seeded: Any, cast: dict[str, Any]) -> None:
    save(review_flow("roi-other"))
    client = _client(cast["viewer"])
    page = client.get("/roi/?days=7")
    assert page.status_code == 200
    labels = [row.values["slug"] for row in page.context["page"].object_list]
    assert labels == ["roi-page", "roi-other"]  # 30 min x 60/h = 30 saved vs nothing
    filtered = client.get("/roi/?days=7&q=other")
    assert [row.values["slug"] for row in filtered.context["page"].object_list] == ["roi-other"]
    assert client.get("/roi/?page=9").status_code == 400
    exported = list(csv.DictReader(io.StringIO(client.get("/roi/export.csv").content.decode())))
    assert [row["slug"] for row in exported] == ["roi-page", "roi-other"]


def test_the_json_api_matches_the_page_and_answers_errors_in_the_api_shape(
    seeded: Any, cast: dict[str, Any]
) -> None:
    api = Client(HTTP_AUTHORIZATION=f"Bearer {token_issue(user=cast['viewer'])}")
    body = api.get("/api/flows/roi-page/roi?days=7").json()
    assert body["volume"]["runs"] == 3
    assert body["value"]["cases"] == 1
    assert body["value"]["time_saved_minutes"] == "30"
    assert body["definition"]["cases"] == "runs with a 'meeting_booked' outcome"
    assert body["outcomes"] == [
        {"metric": "meeting_booked", "events": 1, "runs": 1, "per_100_runs": "33.3", "value": "1"}
    ]
    assert {row["node"] for row in body["nodes"]} >= {"write", "review"}
    bad = api.get("/api/flows/roi-page/roi?since=yesterday")
    assert bad.status_code == 400
    assert bad.json() == {
        "error": {
            "code": "invalid",
            "message": "since: give a date as YYYY-MM-DD",
            "details": [{"pointer": "/since", "message": "give a date as YYYY-MM-DD"}],
        }
    }
    assert api.get("/api/flows/nope/roi").status_code == 404
    outsider = Client(HTTP_AUTHORIZATION=f"Bearer {token_issue(user=cast['outsider'])}")
    assert outsider.get("/api/flows/roi-page/roi").status_code == 403
    board = api.get("/api/roi?days=7").json()
    assert [item["slug"] for item in board["items"]] == ["roi-page"]
