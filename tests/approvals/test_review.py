"""Review time (``flows.approvals.review``): heartbeats from the inbox are credited at most the
wall time since the previous one, people and openings add up, opening alone is no review, and
API decisions count the time their client reported or none; the ROI facts say which."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from django.db.models import Sum
from django.test import Client
from django.utils import timezone

from controlroom.accounts import token_issue
from flows.approvals.decisions import Decision, approval_decide, approval_open
from flows.approvals.review import HEARTBEAT_MAX_MS, approval_seen
from flows.models import Approval, ApprovalReview
from flows.roi.models import Grain, RoiFact
from tests.support.approvals import cast, parked, review_flow, shown

pytestmark = pytest.mark.django_db
__all__ = ["cast"]  # the fixture
JSON = "application/json"


def rewind(approval: Approval, user: Any, seconds: float) -> None:
    """Arrange that ``user`` last opened or reported ``approval`` ``seconds`` ago."""
    ApprovalReview.objects.filter(approval=approval, user=user).update(
        last_seen_at=timezone.now() - timedelta(seconds=seconds)
    )


def approval_fact(approval: Approval) -> dict[str, int]:
    return dict(
        RoiFact.objects.filter(run_id=approval.run_id, grain=Grain.APPROVAL).aggregate(
            review_ms=Sum("review_ms"), reviewed=Sum("reviewed"), reported=Sum("reported")
        )
    )


def test_a_heartbeat_is_credited_at_most_the_wall_time_since_the_last_one(
    cast: dict[str, Any],
) -> None:
    _, approval = parked(review_flow())
    approver = cast["approver"]
    approval_open(approval_id=approval.id, user=approver)
    rewind(approval, approver, 20)
    assert approval_seen(approval_id=approval.id, user=approver, active_ms=15_000) == 15_000
    # A client claiming more than elapsed (or resending at once) gets only the elapsed time.
    assert approval_seen(approval_id=approval.id, user=approver, active_ms=15_000) < 1_000
    rewind(approval, approver, 5)
    inflated = approval_seen(approval_id=approval.id, user=approver, active_ms=HEARTBEAT_MAX_MS)
    assert 5_000 <= inflated < 6_000
    review = ApprovalReview.objects.get(approval=approval, user=approver)
    assert 20_000 <= review.active_ms < 22_000 and review.heartbeats == 3


def test_without_an_opening_the_first_heartbeat_only_starts_the_window(
    cast: dict[str, Any],
) -> None:
    _, approval = parked(review_flow())
    assert approval_seen(approval_id=approval.id, user=cast["approver"], active_ms=15_000) == 0


def test_review_time_sums_openings_and_people_up_to_the_decision(cast: dict[str, Any]) -> None:
    _, approval = parked(review_flow())
    first, second = cast["approver"], cast["approver2"]
    approval_open(approval_id=approval.id, user=first)
    rewind(approval, first, 30)
    approval_seen(approval_id=approval.id, user=first, active_ms=12_000)
    approval_open(approval_id=approval.id, user=second)  # someone else looks too
    rewind(approval, second, 30)
    approval_seen(approval_id=approval.id, user=second, active_ms=8_000)
    approval_open(approval_id=approval.id, user=first)  # and the first one comes back
    rewind(approval, first, 10)
    decision = Decision("approve", shown_hash=shown(approval.id), active_ms=4_000)
    approval_decide(approval_id=approval.id, user=first, decision=decision)
    approval.refresh_from_db()
    assert (approval.review_ms, approval.review_source) == (24_000, "inbox")
    assert approval_fact(approval) == {"review_ms": 24_000, "reviewed": 1, "reported": 0}


def test_opening_without_any_heartbeat_is_not_review_time(cast: dict[str, Any]) -> None:
    _, approval = parked(review_flow())
    approval_open(approval_id=approval.id, user=cast["approver"])
    rewind(approval, cast["approver"], 600)  # ten minutes open in a background tab
    decision = Decision("approve", shown_hash=shown(approval.id))
    approval_decide(approval_id=approval.id, user=cast["approver"], decision=decision)
    approval.refresh_from_db()
    assert (approval.review_ms, approval.review_source) == (None, "")
    assert approval_fact(approval) == {"review_ms": 0, "reviewed": 0, "reported": 0}


def api_decide(user: Any, approval: Approval, **body: Any) -> Any:
    client = Client(HTTP_AUTHORIZATION=f"Bearer {token_issue(user=user)}")
    body = {"decision": "approve", "shown_hash": shown(approval.id), **body}
    return client.post(f"/api/approvals/{approval.id}/decision", json.dumps(body), JSON)


def test_an_api_decision_counts_the_review_time_its_client_reported(
    cast: dict[str, Any],
) -> None:
    _, approval = parked(review_flow())
    # Inbox time by someone else is not this decision's: the API client reports its own.
    approval_open(approval_id=approval.id, user=cast["approver2"])
    rewind(approval, cast["approver2"], 30)
    approval_seen(approval_id=approval.id, user=cast["approver2"], active_ms=10_000)
    response = api_decide(cast["approver"], approval, review_seconds=42.5)
    assert response.status_code == 200, response.content
    assert (response.json()["review_ms"], response.json()["review_source"]) == (42_500, "api")
    assert approval_fact(approval) == {"review_ms": 42_500, "reviewed": 0, "reported": 1}


def test_an_api_decision_without_review_seconds_has_no_review_time(
    cast: dict[str, Any],
) -> None:
    _, approval = parked(review_flow())
    response = api_decide(cast["approver"], approval)
    assert response.status_code == 200, response.content
    assert (response.json()["review_ms"], response.json()["review_source"]) == (None, "")
    assert approval_fact(approval) == {"review_ms": 0, "reviewed": 0, "reported": 0}


@pytest.mark.parametrize("seconds", [-1, 86_401, "soon"])
def test_a_bad_review_seconds_is_refused_and_decides_nothing(
    cast: dict[str, Any], seconds: Any
) -> None:
    _, approval = parked(review_flow())
    response = api_decide(cast["approver"], approval, review_seconds=seconds)
    assert response.status_code == 422, response.content
    assert "review_seconds" in response.content.decode()
    assert Approval.objects.get(id=approval.id).status == "pending"


def seen(user: Any, approval: Approval, **data: Any) -> Any:
    client = Client()
    client.force_login(user)
    return client.post(f"/approvals/{approval.id}/seen/", data)


def test_the_heartbeat_endpoint_credits_and_refuses_precisely(cast: dict[str, Any]) -> None:
    _, approval = parked(review_flow())
    approval_open(approval_id=approval.id, user=cast["approver"])
    rewind(approval, cast["approver"], 20)
    ok = seen(cast["approver"], approval, active_ms="15000")
    assert ok.status_code == 200 and ok.json() == {"credited_ms": 15_000}
    bad = seen(cast["approver"], approval, active_ms="lots")
    assert bad.status_code == 400 and "active_ms" in bad.json()["message"]
    too_much = seen(cast["approver"], approval, active_ms=str(HEARTBEAT_MAX_MS + 1))
    assert too_much.status_code == 400
    Approval.objects.filter(id=approval.id).update(assignee_user=cast["approver2"])
    assert seen(cast["approver"], approval, active_ms="1000").status_code == 403
    assert seen(cast["viewer"], approval, active_ms="1000").status_code == 403
    Approval.objects.filter(id=approval.id).update(status="approved")
    assert seen(cast["approver2"], approval, active_ms="1000").status_code == 409


def test_the_roi_page_says_how_each_decisions_review_time_was_measured(
    cast: dict[str, Any],
) -> None:
    doc = review_flow("review-sources")
    _, in_inbox = parked(doc, "one")
    _, by_api = parked(doc, "two")
    _, unmeasured = parked(doc, "three")
    approval_open(approval_id=in_inbox.id, user=cast["approver"])
    rewind(in_inbox, cast["approver"], 90)
    approval_seen(approval_id=in_inbox.id, user=cast["approver"], active_ms=60_000)
    decision = Decision("approve", shown_hash=shown(in_inbox.id))
    approval_decide(approval_id=in_inbox.id, user=cast["approver"], decision=decision)
    assert api_decide(cast["approver"], by_api, review_seconds=120).status_code == 200
    assert api_decide(cast["approver"], unmeasured).status_code == 200

    client = Client()
    client.force_login(cast["viewer"])
    response = client.get("/flows/review-sources/roi/?days=7")
    assert response.status_code == 200
    quality = response.context["quality"]
    assert (quality["reviewed"], quality["reported"], quality["unmeasured"]) == (1, 1, 1)
    assert quality["avg_review_minutes"] == pytest.approx(1.5)  # (1 + 2) min over 2 measured
    assert (
        "measured in the inbox for 1 decision, reported by API clients for 1, not measured for 1"
        in " ".join(response.content.decode().split())
    )
    board = response.context["board"]
    assert board.value.human_minutes == 3  # only measured minutes reduce time saved
