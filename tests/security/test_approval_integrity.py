"""Issue 14, finding 8: a decision is bound to the hash of what the approver saw, always. A
decision without ``shown_hash`` — through the API, the inbox form, bulk approve or the domain
function — is refused (422) and the approval stays pending; a stale hash stays a 409."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from controlroom.accounts import token_issue
from flows.approvals.decisions import ApprovalError, Decision, approval_decide
from flows.models import Approval
from tests.support.approvals import cast, parked, review_flow

pytestmark = pytest.mark.django_db
__all__ = ["cast"]  # the fixture


def _api(user: Any) -> Client:
    return Client(HTTP_AUTHORIZATION=f"Bearer {token_issue(user=user)}")


def _browser(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _still_pending(approval: Approval) -> None:
    approval.refresh_from_db()
    assert approval.status == "pending" and approval.decided_by is None


@pytest.mark.parametrize(
    "body",
    [
        {"decision": "approve"},
        {"decision": "approve", "output": "Something the approver never saw."},
        {"decision": "reject", "reason": "no"},
        {"decision": "approve", "shown_hash": ""},
        {"decision": "approve", "shown_hash": None},
    ],
    ids=["approve", "edit", "reject", "empty", "null"],
)
def test_an_api_decision_without_the_shown_hash_is_422(
    cast: dict[str, Any], body: dict[str, Any]
) -> None:
    _, approval = parked(review_flow())
    response = _api(cast["approver"]).post(
        f"/api/approvals/{approval.id}/decision", json.dumps(body), content_type="application/json"
    )
    assert response.status_code == 422, response.content
    error = response.json()["error"]
    pointers = [detail["pointer"] for detail in error.get("details", [])]
    assert "shown_hash" in error["message"] or "/shown_hash" in pointers, error
    _still_pending(approval)


def test_the_api_schema_says_shown_hash_is_required(cast: dict[str, Any]) -> None:
    schema = _api(cast["admin"]).get("/api/openapi.json").json()
    decision = schema["components"]["schemas"]["DecisionIn"]
    assert "shown_hash" in decision["required"]


def test_an_api_decision_with_the_shown_hash_decides_and_a_stale_one_is_409(
    cast: dict[str, Any],
) -> None:
    doc = review_flow()
    _, approval = parked(doc, "one")
    _, other = parked(doc, "two")
    client = _api(cast["approver"])
    url = "/api/approvals/{}/decision"
    stale = client.post(
        url.format(other.id),
        json.dumps({"decision": "approve", "shown_hash": approval.shown_hash}),
        content_type="application/json",
    )
    assert stale.status_code == 409 and stale.json()["error"]["code"] == "stale"
    ok = client.post(
        url.format(approval.id),
        json.dumps({"decision": "approve", "shown_hash": approval.shown_hash}),
        content_type="application/json",
    )
    assert ok.status_code == 200, ok.content
    assert Approval.objects.get(id=approval.id).status == "approved"


@pytest.mark.parametrize("choice", ["approve", "reject"])
def test_an_inbox_form_without_the_shown_hash_is_422(cast: dict[str, Any], choice: str) -> None:
    _, approval = parked(review_flow())
    response = _browser(cast["approver"]).post(
        f"/approvals/{approval.id}/decide/",
        {"decision": choice, "reason": "because", "origin": "inbox"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 422
    assert "shown" in response.content.decode()
    _still_pending(approval)


def test_the_inbox_forms_carry_the_shown_hash(cast: dict[str, Any]) -> None:
    _, approval = parked(review_flow())
    page = _browser(cast["approver"]).get(f"/approvals/{approval.id}/").content.decode()
    assert f'name="shown_hash" value="{approval.shown_hash}"' in page


def test_bulk_approve_without_a_hash_approves_nothing(cast: dict[str, Any]) -> None:
    _, approval = parked(review_flow())
    response = _browser(cast["approver"]).post(
        "/approvals/bulk/", {"ids": [str(approval.id)]}, HTTP_HX_REQUEST="true"
    )
    assert "Approved 1." not in response.content.decode()
    _still_pending(approval)


def test_the_domain_function_refuses_a_decision_without_a_hash(cast: dict[str, Any]) -> None:
    _, approval = parked(review_flow())
    with pytest.raises(ApprovalError) as refused:
        approval_decide(
            approval_id=approval.id,
            user=cast["approver"],
            decision=Decision("approve", shown_hash=""),
        )
    assert refused.value.status == 422 and "shown_hash" in refused.value.message
    _still_pending(approval)
