"""The Trigger -> Action -> Feedback -> ROI launch checklist: what it asks, and that publishing
(the domain function and the API) refuses a flow that misses any of it."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml
from django.test import Client

from controlroom.accounts import token_issue, user_ensure
from controlroom.roles import Role
from flows.demo import demo_documents
from flows.launch import NotLaunchable, launch_checklist
from flows.models import Flow
from flows.versions import flow_version_publish
from tests.support.flows import LAUNCH_READY, document, launchable, node, save, scripted


def _doc(**extra: Any) -> dict[str, Any]:
    return document(
        "notes",
        [node("write", "agent", agent="writer", prompt="hi"), node("done", "end")],
        [("write", "done")],
        agents=[scripted("writer", "ok")],
        **extra,
    )


def _missing(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {item.key: item.as_dict() for item in launch_checklist(doc) if not item.ok}


def test_a_complete_flow_passes_every_item() -> None:
    items = launch_checklist(launchable(_doc()))
    assert [(item.key, item.ok) for item in items] == [
        ("trigger", True),
        ("action", True),
        ("feedback", True),
        ("roi", True),
    ]


@pytest.mark.parametrize("document_", demo_documents(), ids=lambda d: d["slug"])
def test_every_demo_flow_may_go_live(document_: dict[str, Any]) -> None:
    assert _missing(document_) == {}


def test_a_bare_flow_misses_trigger_feedback_and_roi_and_says_where() -> None:
    missing = _missing(_doc())
    assert set(missing) == {"trigger", "feedback", "roi"}
    assert missing["trigger"]["where"] == {"panel": "trigger", "pointer": "/trigger"}
    assert missing["feedback"]["where"] == {"panel": "feedback", "pointer": "/feedback/outcome"}
    assert missing["roi"]["where"] == {"panel": "roi", "pointer": "/roi"}
    assert "baseline minutes" in missing["roi"]["message"]


def test_a_flow_without_an_agent_or_tool_node_has_no_action() -> None:
    doc = launchable(document("empty", [node("done", "end")], []))
    missing = _missing(doc)
    assert set(missing) == {"action"}
    assert missing["action"]["where"]["panel"] == "palette"


def test_a_flow_measured_by_an_outcome_needs_a_subject_template() -> None:
    doc = launchable(_doc())
    del doc["subject"]
    missing = _missing(doc)
    assert set(missing) == {"feedback"}
    assert missing["feedback"]["where"] == {"panel": "feedback", "pointer": "/subject"}
    assert "subject" in missing["feedback"]["message"]
    assert _missing(launchable(_doc())) == {}


def test_an_approval_node_is_a_feedback_path() -> None:
    doc = _doc(trigger={"type": "manual"}, roi=LAUNCH_READY["roi"], subject="{{ input.id }}") | {
        "nodes": [
            node("write", "agent", agent="writer", prompt="hi"),
            node("check", "approval", title="Check", draft="{{ steps.write.output }}"),
        ],
        "edges": [{"from": "write", "to": "check"}],
    }
    items = {item.key: item for item in launch_checklist(doc)}
    assert items["feedback"].ok
    assert items["feedback"].where == {"panel": "node", "node": "check"}


def test_a_declared_approval_node_that_does_not_exist_is_reported() -> None:
    doc = launchable(_doc(feedback={"approval_node": "ghost", "outcome": "x"}))
    missing = _missing(doc)
    assert missing["feedback"]["where"]["pointer"] == "/feedback/approval_node"
    assert "'ghost'" in missing["feedback"]["message"]


@pytest.mark.parametrize(
    ("roi", "pointer"),
    [
        ({"hourly_cost": 40, "success_outcome": "x"}, "/roi/baseline_minutes"),
        (
            {"baseline_minutes": 0, "hourly_cost": 40, "success_outcome": "x"},
            "/roi/baseline_minutes",
        ),
        (
            {"baseline_minutes": "ten", "hourly_cost": 40, "success_outcome": "x"},
            "/roi/baseline_minutes",
        ),
        ({"baseline_minutes": 10, "success_outcome": "x"}, "/roi/hourly_cost"),
        ({"baseline_minutes": 10, "hourly_cost": -1, "success_outcome": "x"}, "/roi/hourly_cost"),
        ({"baseline_minutes": 10, "hourly_cost": True, "success_outcome": "x"}, "/roi/hourly_cost"),
        ({"baseline_minutes": 10, "hourly_cost": "45.50"}, "/roi/success_outcome"),
        (
            {"baseline_minutes": 10, "hourly_cost": 45, "success_outcome": " "},
            "/roi/success_outcome",
        ),
    ],
)
def test_each_roi_field_is_checked_with_its_pointer(roi: dict[str, Any], pointer: str) -> None:
    missing = _missing(launchable(_doc(roi=roi)))
    assert set(missing) == {"roi"}
    assert missing["roi"]["where"]["pointer"] == pointer


@pytest.mark.django_db
def test_publishing_an_incomplete_flow_is_refused_and_changes_nothing() -> None:
    flow = save(_doc(trigger={"type": "manual"}))
    with pytest.raises(NotLaunchable) as refused:
        flow_version_publish(flow=flow, version=flow.versions.get())
    assert {item.key for item in refused.value.missing} == {"feedback", "roi"}
    assert [d["pointer"] for d in refused.value.details] == ["/feedback/outcome", "/roi"]
    assert Flow.objects.get(id=flow.id).live_version is None


@pytest.fixture
def designer() -> Client:
    token = token_issue(user=user_ensure(username="dee", role=Role.DESIGNER))
    return Client(HTTP_AUTHORIZATION=f"Bearer {token}")


@pytest.mark.django_db
def test_the_publish_endpoint_answers_409_with_what_is_missing(designer: Client) -> None:
    assert designer.post("/api/flows", _doc(), content_type="application/json").status_code == 201
    refused = designer.post(
        "/api/flows/notes/publish", json.dumps({"version": 1}), content_type="application/json"
    )
    assert refused.status_code == 409
    error = refused.json()["error"]
    assert error["code"] == "not_launchable"
    assert "Trigger, Feedback, ROI" in error["message"]
    assert [d["pointer"] for d in error["details"]] == ["/trigger", "/feedback/outcome", "/roi"]

    # Fill the gaps in a new version; that one goes live.
    saved = designer.post("/api/flows", launchable(_doc()), content_type="application/json")
    assert saved.json()["version"] == 2
    live = designer.post(
        "/api/flows/notes/publish", json.dumps({"version": 2}), content_type="application/json"
    )
    assert live.status_code == 200 and live.json()["live_version"] == 2


@pytest.mark.django_db
def test_validate_returns_the_checklist_beside_the_errors(designer: Client) -> None:
    answer = designer.post("/api/flows/validate", _doc(), content_type="application/json").json()
    assert answer["valid"] is True
    assert {i["key"]: i["ok"] for i in answer["launch"]} == {
        "trigger": False,
        "action": True,
        "feedback": False,
        "roi": False,
    }


@pytest.mark.django_db
def test_yaml_imports_round_trip_equal_as_data(designer: Client) -> None:
    doc = launchable(_doc(description="Dates stay text: 2026-11-21", sample_input={"n": 1.5}))
    created = designer.post("/api/flows", yaml.safe_dump(doc), content_type="application/yaml")
    assert created.status_code == 201
    exported = designer.get("/api/flows/notes/export?format=yaml&version=1")
    assert exported["Content-Type"].startswith("application/yaml")
    assert yaml.safe_load(exported.content) == doc
    parsed = designer.post("/api/flows/parse", exported.content, content_type="application/yaml")
    assert parsed.status_code == 200 and parsed.json() == doc


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("raw", "content_type", "where"),
    [
        ("schema: x\nnodes: [a, b\nedges: []\n", "application/yaml", "line 3, column 6"),
        ("slug: notes\n  name: indented\n", "application/yaml", "line 2, column 7"),
        ('{"slug": "notes",\n "nodes": ]}', "application/json", "line 2, column 11"),
    ],
)
def test_bad_yaml_or_json_names_the_line_and_column(
    designer: Client, raw: str, content_type: str, where: str
) -> None:
    for path in ("/api/flows/parse", "/api/flows"):
        answer = designer.post(path, raw, content_type=content_type)
        assert answer.status_code == 400
        error = answer.json()["error"]
        assert error["code"] == "invalid_document"
        assert where in error["details"][0]["message"], error


@pytest.mark.parametrize(
    ("kind", "says"),
    [
        ("manual", "Runs start manually (Run button or API)."),
        ("webhook", "Runs start when a signed request reaches the flow's webhook URL."),
        ("schedule", "Runs start on the flow's schedule."),
        ("form", "Runs start when someone submits the flow's public form."),
        ("event", "Runs start on an event: another flow's run finishing or an outcome recorded."),
    ],
)
def test_the_trigger_item_says_how_runs_start_in_words(kind: str, says: str) -> None:
    (trigger, *_) = launch_checklist(_doc(trigger={"type": kind}))
    assert trigger.ok and trigger.message == says
