"""What the flows app writes to the audit log: every run and step transition, flow saves,
publishes and rollbacks, and who did it when a person did."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.db.models import Q
from django.test import Client

from agents.audit import audit_seal, audit_verify
from agents.models import AuditEvent
from controlroom.accounts import user_ensure
from controlroom.roles import Role
from flows.approvals.decisions import Decision, approval_decide, approval_reassign
from flows.engine.runs import run_start
from flows.killswitch.pause import flow_pause, flow_resume
from flows.models import RunEvent
from flows.versions import flow_save, flow_version_publish
from tests.support.approvals import cast, parked, review_flow, shown
from tests.support.flows import document, drive, launchable, node, scripted

pytestmark = pytest.mark.django_db

__all__ = ["cast"]  # the approval tests' cast, as a fixture here


def _doc(slug: str = "audited") -> dict[str, Any]:
    return launchable(
        document(
            slug,
            [node("draft", "agent", agent="writer"), node("done", "end")],
            [("draft", "done")],
            agents=[scripted("writer", "hello")],
            subject="{{ input.email }}",
        )
    )


def test_every_run_and_step_transition_is_audited_with_flow_and_subject() -> None:
    designer = user_ensure(username="designer", role=Role.DESIGNER)
    flow, _ = flow_save(document=_doc(), user=designer)
    run, _ = run_start(flow=flow, input={"email": "ann@example.com"}, user=designer)
    run = drive(run)
    assert run.status == "succeeded"
    rows = AuditEvent.objects.filter(kind="transition", run_id=run.id)
    transitions = RunEvent.objects.filter(run=run, kind__in=["step.created", "step.moved"])
    # Scheduling — a step created queued, a worker picking it up (queued → running) — is kept
    # in the run's history only (flows.engine.transitions); every other step transition is
    # audited.
    scheduling = transitions.filter(
        Q(kind="step.created", to_status="queued") | Q(from_status="queued", to_status="running")
    )
    assert scheduling.exists()
    assert rows.filter(action__startswith="step.").count() == (
        transitions.count() - scheduling.count()
    )
    assert not rows.filter(action="step.moved", data__from="queued", data__to="running").exists()
    assert not rows.filter(action="step.created", data__to="queued").exists()
    assert list(
        rows.filter(action="run.moved").order_by("id").values_list("data__from", "data__to")
    ) == [("queued", "running"), ("running", "succeeded")]
    assert set(rows.values_list("flow_slug", flat=True)) == {"audited"}
    assert set(rows.values_list("subject", flat=True)) == {"ann@example.com"}
    assert rows.get(action="run.created").actor == "designer"
    assert audit_verify().ok


def test_save_publish_and_rollback_are_config_events_naming_the_user() -> None:
    designer = user_ensure(username="designer", role=Role.DESIGNER)
    flow, first = flow_save(document=_doc(), user=designer)
    _, second = flow_save(document=_doc(), user=designer)
    flow_version_publish(flow=flow, version=second)
    flow_version_publish(flow=flow, version=first)
    rows = list(
        AuditEvent.objects.filter(kind="config", flow_slug="audited")
        .order_by("id")
        .values_list("action", "data__version", "actor")
    )
    assert rows == [
        ("flow.saved", 1, "designer"),
        ("flow.saved", 2, "designer"),
        ("flow.published", 2, ""),
        ("flow.rolled_back", 1, ""),
    ]


def test_a_change_through_a_page_names_the_requesting_user() -> None:
    """Domain functions that take no user are audited with the request's user (middleware)."""
    designer = user_ensure(username="designer", role=Role.DESIGNER)
    flow, first = flow_save(document=_doc(), user=designer)
    client = Client()
    client.force_login(designer)
    response = client.post(
        f"/api/flows/{flow.slug}/publish",
        data={"version": first.number},
        content_type="application/json",
    )
    assert response.status_code in (200, 201), response.content
    event = AuditEvent.objects.get(action="flow.published")
    assert (event.actor, event.actor_id) == ("designer", designer.pk)
    audit_seal()
    assert AuditEvent.objects.get(id=event.id).seq is not None


def test_outsiders_leave_no_config_trail() -> None:
    outsider = get_user_model().objects.create_user(username="outsider")
    client = Client()
    client.force_login(outsider)
    client.post("/api/flows", data=_doc(), content_type="application/json")
    assert not AuditEvent.objects.filter(kind="config").exists()


def test_a_persons_decision_and_reassignment_are_decisions_naming_them(
    cast: dict[str, Any],
) -> None:
    run, approval = parked(review_flow())
    approval_reassign(approval_id=approval.id, user=cast["approver"], to_user="approver2")
    approval_decide(
        approval_id=approval.id,
        user=cast["approver2"],
        decision=Decision("reject", reason="off-brand", shown_hash=shown(approval.id)),
    )
    rows = AuditEvent.objects.filter(run_id=run.id, kind="decision").order_by("id")
    assert [(row.action, row.actor) for row in rows] == [
        ("approval.reassigned", "approver"),
        ("approval.decided", "approver2"),
    ]
    decided = rows.last()
    assert decided is not None
    assert decided.reason == "off-brand" and decided.step_id == approval.step_id
    assert decided.data["to"] == "rejected"
    created = AuditEvent.objects.get(run_id=run.id, action="approval.created")
    assert created.kind == "transition"


def test_a_run_paused_and_resumed_is_audited_as_transitions() -> None:
    flow, _ = flow_save(document=_doc("pausing"))
    run, _ = run_start(flow=flow, input={"email": "bo@example.com"})
    flow_pause(flow=flow, reason="check the prompt")
    flow_resume(flow=flow)
    moves = list(
        AuditEvent.objects.filter(run_id=run.id, action="run.moved")
        .order_by("id")
        .values_list("data__from", "data__to")
    )
    assert moves[-2:] == [("running", "paused"), ("paused", "running")]
    assert drive(run).status == "succeeded"
