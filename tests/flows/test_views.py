"""The HTML pages: login, role-gated controls, starting runs, graph states, approvals."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from controlroom.accounts import user_ensure
from controlroom.roles import Role
from flows.engine import runner, runs
from flows.models import Approval, Flow, Run, Step
from flows.states import RUN_TERMINAL, ApprovalStatus, RunStatus
from flows.versions import flow_save

pytestmark = pytest.mark.django_db

XSS = "<script>alert('owned')</script>"


def ui_document(slug: str = "ui-flow") -> dict[str, Any]:
    """write (agent) → review (approval) → done (end); the agent answers with markup."""
    return {
        "schema": "controlroom.flow/v1",
        "slug": slug,
        "name": "UI flow",
        "description": "A flow for the page tests.",
        "subject": "{{ input.topic }}",
        "input_schema": {
            "type": "object",
            "required": ["topic"],
            "properties": {"topic": {"type": "string", "minLength": 3}},
        },
        "sample_input": {"topic": "quarterly report"},
        "agents": [
            {
                "slug": "writer",
                "provider": "scripted",
                "script": {"responses": [XSS + " draft about {{ input.topic }}"]},
            }
        ],
        "nodes": [
            {
                "id": "write",
                "type": "agent",
                "config": {"agent": "writer", "prompt": "{{ input.topic }}"},
            },
            {
                "id": "review",
                "type": "approval",
                "config": {"title": "Check it", "draft": "{{ steps.write.output }}"},
            },
            {"id": "done", "type": "end"},
        ],
        "edges": [{"from": "write", "to": "review"}, {"from": "review", "to": "done"}],
    }


@pytest.fixture
def cast() -> dict[str, Any]:
    """One user per role, plus an outsider with no role."""
    users = {role.value: user_ensure(username=role.value, role=role) for role in Role}
    users["outsider"] = get_user_model().objects.create_user(username="outsider")
    return users


@pytest.fixture
def flow() -> Flow:
    flow, _ = flow_save(document=ui_document())
    return flow


def client_for(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def drive(run: Run) -> Run:
    """Execute the run's queued steps in this process until it parks or ends."""
    for _ in range(50):
        run.refresh_from_db()
        step = Step.objects.filter(run=run, status="queued").order_by("id").first()
        if run.status in RUN_TERMINAL or step is None:
            return run
        runner.step_execute(step_id=step.id)
    raise AssertionError("run did not settle")


def parked_run(flow: Flow, user: Any) -> Run:
    run, _ = runs.run_start(flow=flow, input={"topic": "quarterly report"}, user=user)
    return drive(run)


PAGES = ["/", "/flows/", "/flows/ui-flow/", "/runs/", "/approvals/"]


@pytest.mark.parametrize("path", PAGES)
def test_pages_send_anonymous_users_to_the_login_form(
    client: Client, flow: Flow, path: str
) -> None:
    response = client.get(path)
    assert response.status_code == 302
    assert response["Location"].startswith("/login/?next=")


def test_run_page_requires_login(client: Client, flow: Flow, cast: dict[str, Any]) -> None:
    run = parked_run(flow, cast["admin"])
    response = client.get(f"/runs/{run.id}/")
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_login_form_signs_in_and_lands_on_the_control_room(client: Client, flow: Flow) -> None:
    user_ensure(username="ada", role=Role.ADMIN, password="a-long-password")
    page = client.get("/login/")
    assert b'<label for="id_username">' in page.content
    response = client.post(
        "/login/", {"username": "ada", "password": "a-long-password"}, follow=True
    )
    assert response.redirect_chain[-1][0] == "/"
    assert b"<h1>Control room</h1>" in response.content
    assert b"ada" in response.content and b"admin" in response.content


@pytest.mark.parametrize("path", PAGES)
def test_every_page_renders_for_every_role(flow: Flow, cast: dict[str, Any], path: str) -> None:
    for role in Role:
        assert client_for(cast[role.value]).get(path).status_code == 200, (role, path)


def test_run_buttons_show_only_for_operators(flow: Flow, cast: dict[str, Any]) -> None:
    admin_page = client_for(cast["admin"]).get("/flows/").content.decode()
    viewer_page = client_for(cast["viewer"]).get("/flows/").content.decode()
    assert "/flows/ui-flow/#start-run" in admin_page
    assert "/flows/ui-flow/#start-run" not in viewer_page
    assert 'name="input"' in client_for(cast["designer"]).get("/flows/ui-flow/").content.decode()
    assert (
        'name="input"' not in client_for(cast["approver"]).get("/flows/ui-flow/").content.decode()
    )


def test_flow_page_prefills_the_sample_input_and_draws_the_graph(
    flow: Flow, cast: dict[str, Any]
) -> None:
    page = client_for(cast["admin"]).get("/flows/ui-flow/").content.decode()
    assert "quarterly report" in page
    for node_id in ("write", "review", "done"):
        assert f'id="node-{node_id}"' in page
    assert "data-state=" not in page  # the flow page's graph has no states


def test_starting_a_run_from_the_form_opens_its_page(flow: Flow, cast: dict[str, Any]) -> None:
    response = client_for(cast["designer"]).post(
        "/flows/ui-flow/runs/", {"input": '{"topic": "pricing"}'}
    )
    run = Run.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/runs/{run.id}/"
    assert run.subject == "pricing" and run.created_by == cast["designer"]


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("{not json", "input is not valid JSON"),
        ('{"topic": "x"}', "does not match the flow&#x27;s input schema"),
        ("[1, 2]", "input must be a JSON object"),
    ],
)
def test_invalid_input_is_shown_inline_and_starts_nothing(
    flow: Flow, cast: dict[str, Any], raw: str, message: str
) -> None:
    response = client_for(cast["admin"]).post("/flows/ui-flow/runs/", {"input": raw})
    page = response.content.decode()
    assert response.status_code == 422
    assert message in page
    assert 'aria-invalid="true"' in page
    assert Run.objects.count() == 0


def test_schema_errors_name_the_field(flow: Flow, cast: dict[str, Any]) -> None:
    page = client_for(cast["admin"]).post("/flows/ui-flow/runs/", {"input": '{"topic": "x"}'})
    assert "/input/topic" in page.content.decode()


def test_a_user_without_a_role_sees_no_page(flow: Flow, cast: dict[str, Any]) -> None:
    run = parked_run(flow, cast["admin"])
    step = Step.objects.filter(run=run).first()
    assert step is not None
    approval = run.approvals.get()
    outsider = client_for(cast["outsider"])
    for path in [
        *PAGES,
        f"/runs/{run.id}/",
        f"/runs/{run.id}/steps/{step.id}/",
        f"/approvals/{approval.id}/",
        "/approvals/insights/",
        "/home/panels/",
    ]:
        assert outsider.get(path).status_code == 403, path
    assert client_for(cast["viewer"]).get(f"/runs/{run.id}/").status_code == 200


def test_roles_without_operate_cannot_start_runs(flow: Flow, cast: dict[str, Any]) -> None:
    for name in ("viewer", "approver", "outsider"):
        response = client_for(cast[name]).post(
            "/flows/ui-flow/runs/", {"input": '{"topic": "pricing"}'}
        )
        assert response.status_code == 403, name
    assert Run.objects.count() == 0


def test_run_page_colours_nodes_by_their_latest_step(flow: Flow, cast: dict[str, Any]) -> None:
    run = parked_run(flow, cast["admin"])
    page = client_for(cast["viewer"]).get(f"/runs/{run.id}/").content.decode()
    assert re.search(
        r'<g id="node-write" class="[^"]*state-succeeded" data-state="succeeded"', page
    )
    assert 'id="node-review" class="node node-approval state-waiting" data-state="waiting"' in page
    assert 'data-state="pending"' in page and "not reached" in page  # done: no step yet
    assert "waiting for approval" in page  # the run's status, in words


def test_run_page_timeline_lists_each_step_with_escaped_output(
    flow: Flow, cast: dict[str, Any]
) -> None:
    run = parked_run(flow, cast["admin"])
    client = client_for(cast["viewer"])
    page = client.get(f"/runs/{run.id}/").content.decode()
    for step in Step.objects.filter(run=run):
        assert f'id="step-{step.id}"' in page
    assert XSS not in page
    assert "scripted" in page  # the model column
    write = Step.objects.get(run=run, node_id="write")
    # A row's input and output load when it is opened: a fragment for htmx, else a page.
    fragment = client.get(f"/runs/{run.id}/steps/{write.id}/", HTTP_HX_REQUEST="true")
    alone = client.get(f"/runs/{run.id}/steps/{write.id}/")
    for response in (fragment, alone):
        body = response.content.decode()
        assert response.status_code == 200
        assert XSS not in body
        assert "&lt;script&gt;alert(&#x27;owned&#x27;)&lt;/script&gt;" in body
    assert "<html" not in fragment.content.decode() and "<html" in alone.content.decode()
    other = parked_run(flow, cast["admin"])
    assert client.get(f"/runs/{other.id}/steps/{write.id}/").status_code == 404


def test_cancel_and_decision_controls_follow_the_role(flow: Flow, cast: dict[str, Any]) -> None:
    run = parked_run(flow, cast["admin"])
    url = f"/runs/{run.id}/"
    admin = client_for(cast["admin"]).get(url).content.decode()
    viewer = client_for(cast["viewer"]).get(url).content.decode()
    approver = client_for(cast["approver"]).get(url).content.decode()
    designer = client_for(cast["designer"]).get(url).content.decode()
    assert "Cancel run" in admin and "Approve" in admin
    assert (
        "Cancel run" not in viewer and 'value="approve"' not in viewer and "Retry run" not in viewer
    )
    assert "Cancel run" not in approver and 'value="approve"' in approver
    assert "Cancel run" in designer and 'value="approve"' not in designer


def test_forged_posts_by_a_viewer_are_refused(flow: Flow, cast: dict[str, Any]) -> None:
    run = parked_run(flow, cast["admin"])
    approval = Approval.objects.get(run=run)
    viewer = client_for(cast["viewer"])
    assert viewer.post(f"/runs/{run.id}/cancel/").status_code == 403
    assert viewer.post(f"/runs/{run.id}/retry/").status_code == 403
    decide = viewer.post(f"/approvals/{approval.id}/decide/", {"decision": "approve"})
    assert decide.status_code == 403
    run.refresh_from_db()
    approval.refresh_from_db()
    assert run.status == RunStatus.WAITING_APPROVAL
    assert approval.status == ApprovalStatus.PENDING


def test_cancel_then_retry_lands_on_the_new_run(flow: Flow, cast: dict[str, Any]) -> None:
    run = parked_run(flow, cast["admin"])
    client = client_for(cast["designer"])
    cancelled = client.post(f"/runs/{run.id}/cancel/", HTTP_HX_REQUEST="true")
    assert cancelled.status_code == 200
    assert (
        'id="run-header"' in cancelled.content.decode()
        and "cancelled" in cancelled.content.decode()
    )
    again = client.post(f"/runs/{run.id}/cancel/")  # cancelling a cancelled run is a no-op
    assert again.status_code == 302
    retried = client.post(f"/runs/{run.id}/retry/")
    retry = Run.objects.get(retry_of=run)
    assert retried.status_code == 302 and retried["Location"] == f"/runs/{retry.id}/"
    htmx = client.post(f"/runs/{run.id}/retry/", HTTP_HX_REQUEST="true")
    assert htmx.status_code == 200 and htmx["HX-Redirect"].startswith("/runs/")


def test_retrying_a_live_run_shows_why_not(flow: Flow, cast: dict[str, Any]) -> None:
    run = parked_run(flow, cast["admin"])
    response = client_for(cast["admin"]).post(f"/runs/{run.id}/retry/", HTTP_HX_REQUEST="true")
    assert response.status_code == 409
    assert "only failed or cancelled runs can be retried" in response.content.decode()


def test_approver_approves_with_an_edit_and_the_run_goes_on(
    flow: Flow, cast: dict[str, Any]
) -> None:
    run = parked_run(flow, cast["admin"])
    approval = Approval.objects.get(run=run)
    response = client_for(cast["approver"]).post(
        f"/approvals/{approval.id}/decide/",
        {
            "decision": "approve",
            "output": "A better draft",
            "reason": "tone",
            "shown_hash": approval.shown_hash,
        },
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    assert "Approved by approver" in response.content.decode()
    approval.refresh_from_db()
    assert approval.status == ApprovalStatus.APPROVED
    assert approval.decision_output == "A better draft" and approval.decision_reason == "tone"
    assert drive(run).status == RunStatus.SUCCEEDED


def test_an_unchanged_draft_is_approved_as_shown(flow: Flow, cast: dict[str, Any]) -> None:
    run = parked_run(flow, cast["admin"])
    approval = Approval.objects.get(run=run)
    client_for(cast["admin"]).post(
        f"/approvals/{approval.id}/decide/",
        {
            "decision": "approve",
            "output": approval.draft.replace("\n", "\r\n"),
            "shown_hash": approval.shown_hash,
        },
    )
    step = Step.objects.get(run=run, node_id="review")
    assert step.output["edited"] is False


def test_a_second_decision_is_refused_with_the_winner_named(
    flow: Flow, cast: dict[str, Any]
) -> None:
    run = parked_run(flow, cast["admin"])
    approval = Approval.objects.get(run=run)
    shown = {"shown_hash": approval.shown_hash}
    client_for(cast["approver"]).post(
        f"/approvals/{approval.id}/decide/", {"decision": "reject", **shown}
    )
    late = client_for(cast["admin"]).post(
        f"/approvals/{approval.id}/decide/",
        {"decision": "approve", **shown},
        HTTP_HX_REQUEST="true",
    )
    assert late.status_code == 409
    assert "already rejected by approver" in late.content.decode()


def test_approvals_page_lists_pending_decisions_and_the_badge_counts_them(
    flow: Flow, cast: dict[str, Any]
) -> None:
    parked_run(flow, cast["admin"])
    page = client_for(cast["viewer"]).get("/approvals/").content.decode()
    assert "Check it" in page and "UI flow" in page
    assert 'value="approve"' not in page  # a viewer sees the draft, not the controls
    assert re.search(r'id="nav-approvals-badge" class="count-badge">1<', page)


def test_runs_list_filters_by_flow_and_status_and_pages(flow: Flow, cast: dict[str, Any]) -> None:
    other, _ = flow_save(document=ui_document("other-flow"))
    for _ in range(3):
        runs.run_start(flow=flow, input={"topic": "pricing"})
    runs.run_start(flow=other, input={"topic": "pricing"})
    client = client_for(cast["viewer"])
    assert client.get("/runs/").content.decode().count('id="run-row-') == 4
    assert client.get("/runs/?flow=other-flow").content.decode().count('id="run-row-') == 1
    assert client.get("/runs/?status=failed").content.decode().count('id="run-row-') == 0
    assert client.get("/runs/?flow=missing").status_code == 404
    assert client.get("/runs/?cursor=garbage").status_code == 400
    page = client.get("/runs/?flow=ui-flow").content.decode()
    assert f"subscribe=inbox%2Cflow.{flow.id}" in page  # the live list of that flow


def test_unknown_run_is_a_404(flow: Flow, cast: dict[str, Any]) -> None:
    assert client_for(cast["admin"]).get(f"/runs/{uuid.uuid4()}/").status_code == 404
