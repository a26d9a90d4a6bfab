"""The inbox pages (``flows.approvals.views``, contexts from ``flows.approvals.pages``): what
each role sees, filters, the detail with the run so far, deciding from the pane (the next item
opens), integrity refusals that refresh the pane, inert model output, and earned autonomy on the
flow page."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from flows.approvals.decisions import Decision, approval_decide
from flows.engine import runs
from flows.models import Approval, ApprovalAutonomy, Flow, Run
from tests.support.approvals import cast, parked, review_flow, shown
from tests.support.flows import document, drive, node, save, scripted

pytestmark = pytest.mark.django_db
__all__ = ["cast"]  # the fixture

#: Model output that must stay text: a script, an event handler, htmx attributes, a link.
HOSTILE = (
    "<script>window.__owned=1</script>"
    '<img src=x onerror="window.__owned=2">'
    '<button hx-post="/runs/" hx-trigger="load">go</button>'
    '<a href="javascript:window.__owned=3">click</a>'
)


def client_for(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def hostile_flow(slug: str = "hostile") -> dict[str, Any]:
    """An agent whose answer is markup, reviewed in an approval that may send back."""
    return document(
        slug,
        [
            node("write", "agent", agent="writer", prompt="{{ input.topic }}"),
            node(
                "review",
                "approval",
                title="Check: {{ steps.write.output }}",
                draft="{{ steps.write.output }}",
                send_back_to="write",
            ),
            node("done", "end", output="{{ steps.review.output.output }}"),
        ],
        [("write", "review"), ("review", "done")],
        agents=[scripted("writer", HOSTILE + " {{ input.topic }}")],
        subject="{{ input.topic }}",
    )


def test_the_inbox_lists_what_waits_on_me_soonest_deadline_first(cast: dict[str, Any]) -> None:
    flow = save(review_flow())
    late, _ = runs.run_start(flow=flow, input={"topic": "late"})
    soon, _ = runs.run_start(flow=flow, input={"topic": "soon"})
    none, _ = runs.run_start(flow=flow, input={"topic": "none"})
    for run in (late, soon, none):
        drive(run)
    now = timezone.now()
    Approval.objects.filter(run=late).update(deadline_at=now + timedelta(hours=5))
    Approval.objects.filter(run=soon).update(deadline_at=now + timedelta(minutes=20))
    page = client_for(cast["approver"]).get("/approvals/").content.decode()
    titles = re.findall(r'class="row-title">([^<]+)<', page)
    assert titles == ["Post about soon", "Post about late", "Post about none"]
    assert "in 19 min" in page or "in 20 min" in page
    # The first one is open, and an approver opening it is noted.
    assert 'id="detail-title">Post about soon<' in page
    assert Approval.objects.get(run=soon).first_opened_at is not None
    assert re.search(r'id="nav-approvals-badge" class="count-badge">3<', page)


def test_an_approval_for_someone_else_is_not_in_my_inbox(cast: dict[str, Any]) -> None:
    _, approval = parked(review_flow())
    Approval.objects.filter(id=approval.id).update(assignee_user=cast["approver2"])
    mine = client_for(cast["approver"]).get("/approvals/").content.decode()
    assert "Nothing is waiting for you" in mine
    assert 'class="count-badge is-zero"' in mine
    everyone = client_for(cast["approver"]).get("/approvals/?scope=all").content.decode()
    assert "Post about pricing" in everyone
    assert "Waiting for approver2 to decide" in everyone  # read-only for me
    theirs = client_for(cast["approver2"]).get("/approvals/").content.decode()
    assert 'name="decision" value="approve"' in theirs


def test_filters_narrow_the_list(cast: dict[str, Any]) -> None:
    parked(review_flow("first-flow"), "alpha")
    parked(review_flow("second-flow"), "beta")
    client = client_for(cast["approver"])
    page = client.get("/approvals/?flow=second-flow").content.decode()
    assert re.findall(r'class="row-title">([^<]+)<', page) == ["Post about beta"]
    assert client.get("/approvals/?agent=nobody").content.decode().count('class="row-title"') == 0
    assert "no deadline" in client.get("/approvals/?due=none").content.decode()
    older = client.get("/approvals/?age=1d").content.decode()
    assert "Nothing is waiting for you with these filters" in older
    assert client.get("/approvals/?due=bogus&age=bogus").status_code == 200


def test_the_detail_shows_the_draft_why_the_run_so_far_and_memory(cast: dict[str, Any]) -> None:
    _, approval = parked(
        review_flow(deadline_minutes=90, on_deadline="escalate", escalate_to="admin")
    )
    page = client_for(cast["viewer"]).get(f"/approvals/{approval.id}/").content.decode()
    assert "approval node &#x27;review&#x27;" in page  # why it was gated
    assert "A post about pricing." in page  # the draft
    assert "&quot;topic&quot;: &quot;pricing&quot;" in page  # the trigger input
    assert 'class="prior-name">write<' in page  # the steps before it
    assert "No agent in this flow keeps memory about its subject." in page
    assert "then escalated to admin" in page
    # A viewer sees it all, and no controls.
    assert 'name="decision"' not in page and "Reassign" not in page
    assert "Your role can read approvals but not decide them." in page
    assert Approval.objects.get(id=approval.id).first_opened_at is None  # not an approver


def test_deciding_in_the_pane_opens_the_next_item(cast: dict[str, Any]) -> None:
    doc = review_flow()
    _, first = parked(doc, "one")
    _, second = parked(doc, "two")
    response = client_for(cast["approver"]).post(
        f"/approvals/{first.id}/decide/",
        {
            "decision": "approve",
            "output": "A post about one, edited.",
            "shown_hash": first.shown_hash,
            "origin": "inbox",
        },
        HTTP_HX_REQUEST="true",
    )
    body = response.content.decode()
    assert response.status_code == 200
    assert "Approved: Post about one" in body
    assert f'data-approval-id="{second.id}"' in body
    assert response["HX-Push-Url"] == f"/approvals/{second.id}/"
    first.refresh_from_db()
    assert first.resolution == "edited"


def test_the_run_page_card_shows_the_approved_edit_with_the_original_a_click_away(
    cast: dict[str, Any],
) -> None:
    run, approval = parked(review_flow(), "edits")
    original = approval.draft
    approval_decide(
        approval_id=approval.id,
        user=cast["approver"],
        decision=Decision(
            "approve", output="Approved wording, edited.", shown_hash=shown(approval.id)
        ),
    )
    page = client_for(cast["viewer"]).get(f"/runs/{run.id}/").content.decode()
    card = page[page.index(f'id="approval-{approval.id}"') :]
    assert "Approved as edited" in card
    edited = re.search(r"<pre [^>]*data-approved-edit>([^<]*)</pre>", card)
    assert edited is not None and edited.group(1) == "Approved wording, edited."
    assert '<details class="draft-original">' in card and str(original) in card


def test_an_unedited_approval_card_shows_the_draft_alone(cast: dict[str, Any]) -> None:
    run, approval = parked(review_flow(), "as-is")
    approval_decide(
        approval_id=approval.id,
        user=cast["approver"],
        decision=Decision("approve", shown_hash=shown(approval.id)),
    )
    page = client_for(cast["viewer"]).get(f"/runs/{run.id}/").content.decode()
    assert "data-approved-edit" not in page and "Approved as edited" not in page
    assert str(approval.draft) in page


def test_a_stale_decision_is_refused_and_the_pane_shows_the_current_draft(
    cast: dict[str, Any],
) -> None:
    _, approval = parked(review_flow())
    shown = approval.shown_hash
    Approval.objects.filter(id=approval.id).update(draft="Rewritten meanwhile", shown_hash="e" * 64)
    response = client_for(cast["approver"]).post(
        f"/approvals/{approval.id}/decide/",
        {"decision": "approve", "shown_hash": shown, "origin": "inbox"},
        HTTP_HX_REQUEST="true",
    )
    body = response.content.decode()
    assert response.status_code == 409
    assert "the draft changed after it was shown" in body
    assert "Rewritten meanwhile" in body and 'value="' + "e" * 64 + '"' in body


def test_a_late_decider_is_told_who_decided(cast: dict[str, Any]) -> None:
    _, approval = parked(review_flow())
    approval_decide(
        approval_id=approval.id,
        user=cast["approver2"],
        decision=Decision("approve", shown_hash=shown(approval.id)),
    )
    response = client_for(cast["approver"]).post(
        f"/approvals/{approval.id}/decide/",
        {"decision": "reject", "reason": "no", "origin": "inbox", "shown_hash": shown(approval.id)},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 409
    assert "already approved by approver2" in response.content.decode()


def test_rejecting_needs_a_reason_and_sending_back_redrafts(cast: dict[str, Any]) -> None:
    run, approval = parked(hostile_flow())
    client = client_for(cast["approver"])
    url = f"/approvals/{approval.id}/decide/"
    bound = {"origin": "inbox", "shown_hash": approval.shown_hash}
    refused = client.post(url, {"decision": "reject", **bound}, HTTP_HX_REQUEST="true")
    assert refused.status_code == 422
    assert "a rejection needs a reason" in refused.content.decode()
    sent = client.post(
        url,
        {"decision": "reject", "send_back": "1", "reason": "plain text please", **bound},
        HTTP_HX_REQUEST="true",
    )
    assert sent.status_code == 200
    assert "Sent back: " in sent.content.decode()
    drive(run)
    redraft = Approval.objects.get(run=run, status="pending")
    assert redraft.round == 1


def test_reassigning_from_the_pane(cast: dict[str, Any]) -> None:
    _, approval = parked(review_flow())
    response = client_for(cast["approver"]).post(
        f"/approvals/{approval.id}/reassign/",
        {"assignee": "user:approver2", "note": "you know this customer", "origin": "inbox"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    assert "Reassigned to approver2" in response.content.decode()
    approval.refresh_from_db()
    assert approval.assignee_user == cast["approver2"]


def test_the_diff_preview_is_computed_on_the_server(cast: dict[str, Any]) -> None:
    _, approval = parked(review_flow())
    response = client_for(cast["approver"]).post(
        f"/approvals/{approval.id}/diff/", {"output": "A post about <b>pricing</b>."}
    )
    body = response.content.decode()
    assert "<strong>7</strong> characters changed" in body
    assert "<del" in body and "<ins" in body
    assert "&lt;b&gt;pricing&lt;/b&gt;" in body and "<b>pricing</b>" not in body


def test_viewers_get_no_controls_and_forged_posts_are_refused(cast: dict[str, Any]) -> None:
    run, approval = parked(review_flow())
    viewer = client_for(cast["viewer"])
    page = viewer.get("/approvals/").content.decode()
    assert "Approve selected" not in page and 'name="decision"' not in page
    for path, form in [
        (f"/approvals/{approval.id}/decide/", {"decision": "approve"}),
        (f"/approvals/{approval.id}/reassign/", {"assignee": "role:admin"}),
        ("/approvals/bulk/", {"ids": [str(approval.id)]}),
        (f"/approvals/{approval.id}/diff/", {"output": "x"}),
    ]:
        response = viewer.post(path, form)
        assert response.status_code == 403, path
        assert "Not allowed" in response.content.decode()
    approval.refresh_from_db()
    assert approval.status == "pending" and approval.assignee_role == "approver"
    assert Run.objects.get(id=run.id).status == "waiting_approval"


def test_bulk_approve_from_the_list(cast: dict[str, Any]) -> None:
    doc = review_flow()
    _, first = parked(doc, "one")
    _, second = parked(doc, "two")
    response = client_for(cast["approver"]).post(
        "/approvals/bulk/",
        {
            "ids": [str(first.id), str(second.id)],
            f"hash_{first.id}": first.shown_hash,
            f"hash_{second.id}": "0" * 64,
        },
        HTTP_HX_REQUEST="true",
    )
    body = response.content.decode()
    assert "Approved 1." in body
    assert "Post about two — the draft changed after it was shown" in body


def test_model_output_is_inert_text_in_the_inbox_and_run_pages(cast: dict[str, Any]) -> None:
    run, approval = parked(hostile_flow())
    client = client_for(cast["approver"])
    pages = {
        "inbox": client.get("/approvals/").content.decode(),
        "detail": client.get(f"/approvals/{approval.id}/", HTTP_HX_REQUEST="true").content.decode(),
        "run": client.get(f"/runs/{run.id}/").content.decode(),
    }
    for name, html in pages.items():
        assert "<script>window.__owned" not in html, name
        assert "onerror=" not in html.replace("onerror=&quot;", ""), name
        assert 'hx-post="/runs/"' not in html, name
        assert 'href="javascript:' not in html, name
        assert "&lt;script&gt;window.__owned=1&lt;/script&gt;" in html, name
        assert "javascript:window.__owned=3" in html, name  # shown, as text


def test_the_flow_page_suggests_sampling_and_a_designer_turns_it_on(cast: dict[str, Any]) -> None:
    rule = {"window": 5, "threshold": 0.8, "sample_one_in": 3}
    flow: Flow = save(review_flow("earned-page", autonomy=rule))
    for index in range(5):
        run, _ = runs.run_start(flow=flow, input={"topic": f"t{index}"})
        drive(run)
        pending = Approval.objects.get(run=run)
        approval_decide(
            approval_id=pending.id,
            user=cast["approver"],
            decision=Decision("approve", shown_hash=shown(pending.id)),
        )
    approver_page = client_for(cast["approver"]).get("/flows/earned-page/").content.decode()
    assert "suggested: review 1 in 3" in approver_page
    assert "5 of the last 5 approved unchanged (100%)" in approver_page
    assert "Turn on sampling" not in approver_page  # designers decide
    forged = client_for(cast["approver"]).post(
        "/flows/earned-page/approvals/review/autonomy/", {"enabled": "1"}
    )
    assert forged.status_code == 403
    response = client_for(cast["designer"]).post(
        "/flows/earned-page/approvals/review/autonomy/", {"enabled": "1"}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200
    assert "sampling on: 1 in 3 reviewed" in response.content.decode()
    assert ApprovalAutonomy.objects.get(flow=flow, node_id="review").enabled


def test_a_filter_with_a_nul_character_matches_nothing(cast: dict[str, Any]) -> None:
    parked(review_flow())
    response = client_for(cast["approver"]).get("/approvals/?flow=%00&reason=x%00")
    assert response.status_code == 200
    assert "Nothing is waiting for you with these filters" in response.content.decode()


def test_nul_characters_in_what_an_approver_types_are_dropped(cast: dict[str, Any]) -> None:
    _, approval = parked(review_flow())
    response = client_for(cast["approver"]).post(
        f"/approvals/{approval.id}/decide/",
        {
            "decision": "approve",
            "output": "Fine\x00 post",
            "reason": "o\x00k",
            "origin": "inbox",
            "shown_hash": approval.shown_hash,
        },
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    approval.refresh_from_db()
    assert (approval.decision_output, approval.decision_reason) == ("Fine post", "ok")


def test_a_live_status_refresh_keeps_the_decision_area_unless_it_changed(
    cast: dict[str, Any],
) -> None:
    """The pane asks for its status when its row changes live; an edit being typed must survive
    a reminder or escalation, while a decision, a new draft or a move away replaces the form."""
    _, approval = parked(review_flow())
    client = client_for(cast["approver"])
    url = f"/approvals/{approval.id}/?part=status"
    actions = f'id="approval-{approval.id}-actions"'

    same = client.get(f"{url}&shown={approval.shown_hash}", HTTP_HX_REQUEST="true")
    assert same.status_code == 200
    assert f'id="approval-{approval.id}-status"' in same.content.decode()
    assert actions not in same.content.decode()

    stale = client.get(f"{url}&shown=an-older-draft", HTTP_HX_REQUEST="true")
    assert actions in stale.content.decode()
    assert approval.shown_hash in stale.content.decode()  # the new form carries the new hash

    approval_decide(
        approval_id=approval.id,
        user=cast["approver2"],
        decision=Decision("approve", shown_hash=shown(approval.id)),
    )
    decided = client.get(f"{url}&shown={approval.shown_hash}", HTTP_HX_REQUEST="true")
    assert actions in decided.content.decode()
    assert "Approved by" in decided.content.decode()
