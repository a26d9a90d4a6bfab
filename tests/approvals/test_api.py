"""The approvals API (``/api/approvals``): list what is mine, get an approval with what an
approver needs, decide with the same integrity rules as the pages (every decision carries the
``shown_hash`` it was made on: issue 14)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.http import HttpResponse
from django.test import Client
from django.utils import timezone

from controlroom.accounts import token_issue
from flows.approvals.edits import edit_distance
from flows.models import Approval, Run
from tests.support.approvals import cast, parked, review_flow, shown
from tests.support.flows import drive

pytestmark = pytest.mark.django_db
__all__ = ["cast"]  # the fixture
JSON = "application/json"


@pytest.fixture
def api(cast: dict[str, Any]) -> Callable[[str], Client]:
    clients: dict[str, Client] = {}

    def client_for(name: str) -> Client:
        if name not in clients:
            clients[name] = Client(HTTP_AUTHORIZATION=f"Bearer {token_issue(user=cast[name])}")
        return clients[name]

    return client_for


def decide(api: Callable[[str], Client], who: str, approval: Approval, **body: Any) -> HttpResponse:
    """Post a decision bound to what the approval shows now (unless ``shown_hash`` is given)."""
    body = {"shown_hash": shown(approval.id), **body}
    return api(who).post(
        f"/api/approvals/{approval.id}/decision", json.dumps(body), content_type=JSON
    )


def error(response: HttpResponse, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.content[:500]
    return dict(response.json()["error"])


def test_mine_lists_what_the_caller_may_decide(api: Callable[[str], Client], cast: Any) -> None:
    doc = review_flow()
    _, first = parked(doc, "one")
    _, second = parked(doc, "two")
    Approval.objects.filter(id=second.id).update(assignee_user=cast["approver2"])
    ids = [item["id"] for item in api("approver").get("/api/approvals?mine=true").json()["items"]]
    assert ids == [first.id]
    assert api("viewer").get("/api/approvals?mine=true").json()["items"] == []
    by_agent = api("viewer").get("/api/approvals?agent=writer&flow=review-flow").json()["items"]
    assert {item["id"] for item in by_agent} == {first.id, second.id}
    [item] = [i for i in by_agent if i["id"] == second.id]
    assert item["assignee_user"] == "approver2" and item["agent"] == "writer"
    assert item["round"] == 0 and item["resolution"] == ""


def test_get_carries_the_run_so_far_the_history_and_who_may_decide(
    api: Callable[[str], Client],
) -> None:
    _, approval = parked(review_flow(send_back_to="write"))
    body = api("approver").get(f"/api/approvals/{approval.id}").json()
    assert body["may_decide"] is True and body["send_backs_left"] == 3
    assert body["run_input"] == {"topic": "pricing"}
    assert [step["node_id"] for step in body["prior_steps"]] == ["write"]
    assert body["prior_steps"][0]["output"] == "A post about pricing."
    assert [event["kind"] for event in body["history"]] == ["approval.created"]
    assert api("viewer").get(f"/api/approvals/{approval.id}").json()["may_decide"] is False


def test_a_body_with_an_edit_and_a_reason_decides(api: Callable[[str], Client]) -> None:
    run, approval = parked(review_flow())
    response = decide(api, "approver", approval, decision="approve", output="Edited", reason="ok")
    assert response.status_code == 200
    body = response.json()
    assert (body["status"], body["resolution"], body["decided_by"]) == (
        "approved",
        "edited",
        "approver",
    )
    assert body["edit_distance"] == edit_distance("A post about pricing.", "Edited")
    assert drive(run).output == "Edited"


def test_the_api_refuses_stale_late_and_second_decisions(api: Callable[[str], Client]) -> None:
    doc = review_flow(deadline_minutes=30)
    _, stale = parked(doc, "stale")
    assert (
        error(decide(api, "approver", stale, decision="approve", shown_hash="0" * 64), 409)["code"]
        == "stale"
    )
    _, late = parked(doc, "late")
    Approval.objects.filter(id=late.id).update(deadline_at=timezone.now() - timedelta(seconds=1))
    assert error(decide(api, "approver", late, decision="approve"), 409)["code"] == "expired"
    _, twice = parked(doc, "twice")
    assert decide(api, "approver2", twice, decision="approve").status_code == 200
    refused = error(decide(api, "approver", twice, decision="reject", reason="no"), 409)
    assert refused == {
        "code": "conflict",
        "message": "already approved by approver2",
        "details": [],
    }


def test_send_back_through_the_api(api: Callable[[str], Client]) -> None:
    run, approval = parked(review_flow(send_back_to="write"))
    needs_notes = error(decide(api, "approver", approval, decision="reject", send_back=True), 400)
    assert "needs notes" in needs_notes["message"]
    response = decide(
        api, "approver", approval, decision="reject", send_back=True, reason="Mention the discount"
    )
    assert response.json()["resolution"] == "sent_back"
    drive(run)
    redraft = Approval.objects.get(run=run, status="pending")
    assert redraft.round == 1
    refused = error(decide(api, "approver", redraft, decision="approve", send_back=True), 400)
    assert refused["message"] == "only a rejection can send the draft back"


def test_reassign_through_the_api(api: Callable[[str], Client], cast: Any) -> None:
    _, approval = parked(review_flow())
    missing = error(decide(api, "approver", approval, decision="reassign"), 400)
    assert "needs an assignee" in missing["message"]
    both = error(
        decide(
            api,
            "approver",
            approval,
            decision="reassign",
            assignee={"user": "admin", "role": "admin"},
        ),
        400,
    )
    assert both["message"] == "reassign to one person or one role"
    response = decide(
        api, "approver", approval, decision="reassign", assignee={"user": "approver2"}, reason="hi"
    )
    assert response.status_code == 200
    assert response.json()["assignee_user"] == "approver2"
    assert error(decide(api, "approver", approval, decision="approve"), 403)["code"] == "forbidden"
    assert decide(api, "approver2", approval, decision="approve").status_code == 200
    assert Run.objects.get(id=approval.run_id).status == "succeeded"


def test_filters_with_nul_characters_are_refused_not_crashed(api: Callable[[str], Client]) -> None:
    assert error(api("viewer").get("/api/approvals?agent=a%00b"), 400)["code"] == "invalid"
