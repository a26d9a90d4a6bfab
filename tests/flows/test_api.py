"""The JSON API: flows, runs and approvals, who may do what, and one error shape for every
failure (never a 500, whatever the body)."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
import yaml
from django.http import HttpResponse
from django.test import Client
from django.test.client import MULTIPART_CONTENT
from django.utils import timezone

from flows.engine.nodes import REGISTRY
from flows.models import Approval, Run, Step
from tests.support.approvals import shown
from tests.support.flows import document, launchable, node, scripted

pytestmark = pytest.mark.django_db

JSON = "application/json"


# --- the cast and their clients ---------------------------------------------------------------


def error_of(response: HttpResponse, status: int, code: str | None = None) -> dict[str, Any]:
    """Assert ``response`` is an error with exactly the API's one error shape."""
    assert response.status_code == status, response.content[:500]
    assert response["Content-Type"].startswith(JSON), response.content[:500]
    body = response.json()
    assert set(body) == {"error"}
    error = body["error"]
    assert set(error) == {"code", "message", "details"}
    assert isinstance(error["code"], str) and error["code"]
    assert isinstance(error["message"], str) and error["message"]
    for detail in error["details"]:
        assert set(detail) == {"pointer", "message"}
        assert detail["pointer"] == "" or detail["pointer"].startswith("/")
    if code is not None:
        assert error["code"] == code, error
    return error


# --- documents ------------------------------------------------------------------------------------


def agent_flow(slug: str = "brief-writer") -> dict[str, Any]:
    """An agent (queued on a worker) then an end; needs ``input.topic``; may go live."""
    return launchable(
        document(
            slug,
            [
                node("write", "agent", agent="writer", prompt="Write about {{ input.topic }}"),
                node("done", "end", output="{{ steps.write.output }}"),
            ],
            [("write", "done")],
            agents=[scripted("writer", "A short brief.")],
            subject="{{ input.topic }}",
            input_schema={
                "type": "object",
                "required": ["topic"],
                "properties": {
                    "topic": {"type": "string", "minLength": 3},
                    "words": {"type": "integer", "minimum": 1},
                },
            },
        )
    )


def approval_flow(slug: str = "sign-off") -> dict[str, Any]:
    """An approval first (it parks the run inline, no worker needed), then an end."""
    return document(
        slug,
        [
            node(
                "review",
                "approval",
                title="Sign off {{ input.topic }}",
                draft="Draft about {{ input.topic }}",
            ),
            node("done", "end", output="{{ steps.review.output }}"),
        ],
        [("review", "done")],
        subject="{{ input.topic }}",
    )


def save(api: Callable[[str], Client], doc: dict[str, Any]) -> dict[str, Any]:
    response = api("designer").post("/api/flows", json.dumps(doc), content_type=JSON)
    assert response.status_code == 201, response.content
    return response.json()  # type: ignore[no-any-return]


def start(
    api: Callable[[str], Client], slug: str, input: dict[str, Any] | None = None, **headers: str
) -> HttpResponse:
    body = json.dumps({"input": input if input is not None else {"topic": "pricing"}})
    return api("designer").post(f"/api/flows/{slug}/runs", body, content_type=JSON, **headers)


def parked_run(api: Callable[[str], Client], slug: str = "sign-off") -> tuple[str, Approval]:
    """Start an approval-first run; return its id and the pending approval."""
    response = start(api, slug)
    assert response.status_code == 202, response.content
    run_id = response.json()["run_id"]
    return run_id, Approval.objects.get(run_id=run_id)


# --- flows --------------------------------------------------------------------------------------


def test_saving_a_flow_answers_201_with_slug_and_version(api: Callable[[str], Client]) -> None:
    assert save(api, agent_flow()) == {"slug": "brief-writer", "version": 1, "live_version": None}


def test_saving_the_same_slug_again_makes_version_2(api: Callable[[str], Client]) -> None:
    save(api, agent_flow())
    changed = agent_flow()
    changed["name"] = "Brief writer, second edition"
    assert save(api, changed)["version"] == 2
    flow = api("viewer").get("/api/flows/brief-writer").json()
    assert flow == {
        "slug": "brief-writer",
        "name": "Brief writer, second edition",
        "description": "",
        "demo": False,
        "live_version": None,
        "versions": [1, 2],
        "latest_version": 2,
    }


def test_an_invalid_document_is_a_400_with_pointers(api: Callable[[str], Client]) -> None:
    doc = agent_flow()
    doc["nodes"].append(node("write", "end"))
    doc["edges"].append({"from": "done", "to": "nowhere"})
    response = api("designer").post("/api/flows", json.dumps(doc), content_type=JSON)
    error = error_of(response, 400, "invalid_document")
    assert {d["pointer"] for d in error["details"]} == {"/nodes/2/id", "/edges/1/to"}
    assert api("viewer").get("/api/flows/brief-writer").status_code == 404


def test_a_yaml_document_is_saved_when_the_content_type_says_yaml(
    api: Callable[[str], Client],
) -> None:
    response = api("designer").post(
        "/api/flows", yaml.safe_dump(agent_flow()), content_type="application/yaml"
    )
    assert response.status_code == 201
    assert api("viewer").get("/api/flows/brief-writer/export").json() == agent_flow()


def test_a_flow_exports_as_json_and_yaml(api: Callable[[str], Client]) -> None:
    save(api, agent_flow())
    as_json = api("viewer").get("/api/flows/brief-writer/export")
    assert as_json.status_code == 200
    assert as_json.json() == agent_flow()
    as_yaml = api("viewer").get("/api/flows/brief-writer/export?format=yaml")
    assert as_yaml["Content-Type"].startswith("application/yaml")
    assert yaml.safe_load(as_yaml.content) == agent_flow()
    error_of(api("viewer").get("/api/flows/brief-writer/export?format=xml"), 400)
    error_of(api("viewer").get("/api/flows/brief-writer/export?version=9"), 404, "not_found")
    error_of(api("viewer").get("/api/flows/brief-writer/export?version=0"), 404, "not_found")


def test_an_unknown_flow_is_a_404(api: Callable[[str], Client]) -> None:
    error_of(api("viewer").get("/api/flows/no-such-flow"), 404, "not_found")
    error_of(api("viewer").get("/api/flows/no-such-flow/export"), 404, "not_found")
    error_of(start(api, "no-such-flow"), 404, "not_found")


def test_node_types_lists_every_type_with_its_config_schema(api: Callable[[str], Client]) -> None:
    response = api("viewer").get("/api/node-types")
    assert response.status_code == 200
    listed = {item["type"]: item for item in response.json()}
    assert set(listed) == set(REGISTRY)
    for name, node_type in REGISTRY.items():
        assert listed[name]["config_schema"] == node_type.schema
        assert listed[name]["queued"] is node_type.queued
        assert listed[name]["title"]


def test_publishing_makes_a_version_live(api: Callable[[str], Client]) -> None:
    save(api, agent_flow())
    save(api, agent_flow())
    published = api("designer").post(
        "/api/flows/brief-writer/publish", json.dumps({"version": 1}), content_type=JSON
    )
    assert published.json() == {"slug": "brief-writer", "version": 1, "live_version": 1}
    assert api("viewer").get("/api/flows/brief-writer").json()["live_version"] == 1
    error_of(
        api("viewer").post(
            "/api/flows/brief-writer/publish", json.dumps({"version": 1}), content_type=JSON
        ),
        403,
        "forbidden",
    )


# --- runs ---------------------------------------------------------------------------------------


def test_starting_a_run_answers_202_and_queues_its_first_step(api: Callable[[str], Client]) -> None:
    save(api, agent_flow())
    response = start(api, "brief-writer", {"topic": "pricing", "words": 200})
    assert response.status_code == 202
    body = response.json()
    assert body["created"] is True
    run = Run.objects.get(id=body["run_id"])
    assert run.status == body["status"] == "running"
    assert run.subject == "pricing"
    assert list(run.steps.values_list("node_id", "status")) == [("write", "queued")]


@pytest.mark.parametrize(
    ("input", "pointers"),
    [
        ({}, {"/input/"}),
        ({"topic": "ab"}, {"/input/topic"}),
        ({"topic": 5, "words": 0}, {"/input/topic", "/input/words"}),
    ],
)
def test_input_that_breaks_the_input_schema_is_a_400_with_pointers(
    api: Callable[[str], Client], input: dict[str, Any], pointers: set[str]
) -> None:
    save(api, agent_flow())
    error = error_of(start(api, "brief-writer", input), 400)
    assert {detail["pointer"] for detail in error["details"]} == pointers
    assert Run.objects.count() == 0


def test_a_repeated_idempotency_key_returns_the_first_run(api: Callable[[str], Client]) -> None:
    save(api, agent_flow())
    first = start(api, "brief-writer", HTTP_IDEMPOTENCY_KEY="order-17")
    again = start(api, "brief-writer", {"topic": "something else"}, HTTP_IDEMPOTENCY_KEY="order-17")
    assert first.status_code == 202
    assert again.status_code == 200
    assert again.json()["run_id"] == first.json()["run_id"]
    assert again.json()["created"] is False
    assert Run.objects.count() == 1
    other = start(api, "brief-writer", HTTP_IDEMPOTENCY_KEY="order-18")
    assert other.json()["run_id"] != first.json()["run_id"]
    error_of(start(api, "brief-writer", HTTP_IDEMPOTENCY_KEY="k" * 201), 400)


def test_a_run_shows_its_steps(api: Callable[[str], Client]) -> None:
    save(api, approval_flow())
    run_id, _ = parked_run(api)
    response = api("viewer").get(f"/api/runs/{run_id}")
    assert response.status_code == 200
    run = response.json()
    assert run["id"] == run_id
    assert run["flow"] == "sign-off"
    assert run["version"] == 1
    assert run["status"] == "waiting_approval"
    assert run["input"] == {"topic": "pricing"}
    assert run["subject"] == "pricing"
    [step] = run["steps"]
    for field in (
        "node_id",
        "status",
        "attempt",
        "output",
        "error",
        "tokens_in",
        "tokens_out",
        "cost",
        "started_at",
        "finished_at",
    ):
        assert field in step
    assert step["node_id"] == "review"
    assert step["status"] == "waiting"
    assert step["attempt"] == 1
    assert step["started_at"] is not None
    assert step["finished_at"] is None


@pytest.mark.parametrize(
    "run_id",
    [
        "not-a-uuid",
        "3f2b8c9e-6d1a-4e57-9a0b-1c2d3e4f5a6b",
        "1",
        "x" * 300,
        "00000000-0000-0000-0000-00000000000g",
    ],
)
def test_an_unknown_or_malformed_run_id_is_a_json_404(
    api: Callable[[str], Client], run_id: str
) -> None:
    error_of(api("viewer").get(f"/api/runs/{run_id}"), 404, "not_found")
    error_of(api("designer").post(f"/api/runs/{run_id}/cancel"), 404, "not_found")
    error_of(api("designer").post(f"/api/runs/{run_id}/retry"), 404, "not_found")


def test_cancelling_a_run_is_idempotent(api: Callable[[str], Client]) -> None:
    save(api, approval_flow())
    run_id, approval = parked_run(api)
    first = api("designer").post(f"/api/runs/{run_id}/cancel")
    assert first.status_code == 200
    assert first.json()["status"] == "cancelled"
    again = api("designer").post(f"/api/runs/{run_id}/cancel")
    assert again.status_code == 200
    assert again.json()["status"] == "cancelled"
    approval.refresh_from_db()
    assert approval.status == "cancelled"
    assert Step.objects.get(run_id=run_id).status == "cancelled"


def test_cancelling_a_finished_run_is_a_409(api: Callable[[str], Client]) -> None:
    save(api, approval_flow())
    run_id, approval = parked_run(api)
    api("approver").post(
        f"/api/approvals/{approval.id}/decision",
        json.dumps({"decision": "approve", "shown_hash": approval.shown_hash}),
        content_type=JSON,
    )
    assert Run.objects.get(id=run_id).status == "succeeded"
    error = error_of(api("designer").post(f"/api/runs/{run_id}/cancel"), 409, "conflict")
    assert "succeeded" in error["message"]


def test_retrying_a_run_that_did_not_fail_is_a_409(api: Callable[[str], Client]) -> None:
    save(api, approval_flow())
    run_id, _ = parked_run(api)
    error = error_of(api("designer").post(f"/api/runs/{run_id}/retry"), 409, "conflict")
    assert "waiting_approval" in error["message"]
    assert Run.objects.count() == 1


def test_retrying_a_cancelled_run_starts_a_linked_run(api: Callable[[str], Client]) -> None:
    save(api, approval_flow())
    run_id, _ = parked_run(api)
    api("designer").post(f"/api/runs/{run_id}/cancel")
    response = api("designer").post(f"/api/runs/{run_id}/retry")
    assert response.status_code == 202
    retry = api("viewer").get(f"/api/runs/{response.json()['run_id']}").json()
    assert retry["retry_of"] == run_id
    assert retry["input"] == {"topic": "pricing"}


# --- approvals ----------------------------------------------------------------------------------


def _decide(
    api: Callable[[str], Client], who: str, approval: Approval, **body: Any
) -> HttpResponse:
    """Decide as an approver would: on what the approval shows now, unless told otherwise."""
    return api(who).post(
        f"/api/approvals/{approval.id}/decision",
        json.dumps({"decision": "approve", "shown_hash": shown(approval.id), **body}),
        content_type=JSON,
    )


def test_pending_approvals_are_listed(api: Callable[[str], Client]) -> None:
    save(api, approval_flow())
    run_id, approval = parked_run(api)
    response = api("viewer").get("/api/approvals?status=pending")
    assert response.status_code == 200
    [item] = response.json()["items"]
    assert item["id"] == approval.id
    assert item["run_id"] == run_id
    assert item["node_id"] == "review"
    assert item["status"] == "pending"
    assert item["title"] == "Sign off pricing"
    assert item["draft"] == "Draft about pricing"
    assert item["shown_hash"] == approval.shown_hash
    assert api("viewer").get("/api/approvals?status=approved").json()["items"] == []
    error_of(api("viewer").get("/api/approvals?status=bogus"), 400)
    assert api("viewer").get(f"/api/approvals/{approval.id}").json()["id"] == approval.id
    error_of(api("viewer").get("/api/approvals/999999"), 404, "not_found")


@pytest.mark.parametrize("who", ["viewer", "designer", "outsider"])
def test_only_approvers_may_decide(api: Callable[[str], Client], who: str) -> None:
    save(api, approval_flow())
    _, approval = parked_run(api)
    error_of(_decide(api, who, approval), 403, "forbidden")
    approval.refresh_from_db()
    assert approval.status == "pending"


def test_an_approver_decides_and_the_run_goes_on(api: Callable[[str], Client]) -> None:
    save(api, approval_flow())
    run_id, approval = parked_run(api)
    response = _decide(
        api,
        "approver",
        approval,
        output="Edited draft",
        reason="tone",
        shown_hash=approval.shown_hash,
    )
    assert response.status_code == 200
    decided = response.json()
    assert decided["status"] == "approved"
    assert decided["decided_by"] == "approver"
    assert decided["decision_output"] == "Edited draft"
    run = api("viewer").get(f"/api/runs/{run_id}").json()
    assert run["status"] == "succeeded"
    assert run["output"]["output"] == "Edited draft"


def test_a_second_decision_is_a_409_naming_who_decided(api: Callable[[str], Client]) -> None:
    save(api, approval_flow())
    _, approval = parked_run(api)
    assert _decide(api, "approver", approval).status_code == 200
    error = error_of(_decide(api, "admin", approval, decision="reject"), 409, "conflict")
    assert "approved by approver" in error["message"]


def test_a_decision_on_a_draft_that_changed_is_a_409(api: Callable[[str], Client]) -> None:
    save(api, approval_flow())
    _, approval = parked_run(api)
    error_of(_decide(api, "approver", approval, shown_hash="0" * 64), 409, "stale")
    approval.refresh_from_db()
    assert approval.status == "pending"


def test_a_decision_must_be_approve_or_reject(api: Callable[[str], Client]) -> None:
    save(api, approval_flow())
    _, approval = parked_run(api)
    error = error_of(_decide(api, "approver", approval, decision="maybe"), 422)
    assert error["details"][0]["pointer"] == "/decision"
    error_of(_decide(api, "approver", approval, reason=5), 422)


# --- who may do what ------------------------------------------------------------------------------


def test_a_viewer_cannot_save_flows_or_start_runs(api: Callable[[str], Client]) -> None:
    save(api, agent_flow())
    error_of(
        api("viewer").post("/api/flows", json.dumps(agent_flow()), content_type=JSON),
        403,
        "forbidden",
    )
    for who in ("viewer", "approver", "outsider"):
        response = api(who).post(
            "/api/flows/brief-writer/runs",
            json.dumps({"input": {"topic": "pricing"}}),
            content_type=JSON,
        )
        error_of(response, 403, "forbidden")
    assert Run.objects.count() == 0


READS = [
    "/api/node-types",
    "/api/flows",
    "/api/flows/brief-writer",
    "/api/flows/brief-writer/export",
    "/api/runs",
    "/api/approvals",
]


@pytest.mark.parametrize("path", READS)
def test_reads_need_a_role(api: Callable[[str], Client], path: str) -> None:
    save(api, agent_flow())
    for who in ("admin", "designer", "approver", "viewer"):
        assert api(who).get(path).status_code == 200, who
    error_of(api("outsider").get(path), 403, "forbidden")


@pytest.mark.parametrize("path", READS)
def test_no_token_or_a_bad_token_is_a_401(api: Callable[[str], Client], path: str) -> None:
    error_of(Client().get(path), 401, "unauthenticated")
    error_of(Client(HTTP_AUTHORIZATION="Bearer cr_not-a-real-token").get(path), 401)
    error_of(Client(HTTP_AUTHORIZATION="Bearer " + "x" * 10_000).get(path), 401)
    error_of(Client(HTTP_AUTHORIZATION="Basic YWRtaW46YWRtaW4=").get(path), 401)


def test_writes_without_a_token_are_a_401(api: Callable[[str], Client]) -> None:
    error_of(Client().post("/api/flows", json.dumps(agent_flow()), content_type=JSON), 401)
    error_of(Client().post("/api/flows/brief-writer/runs", "{}", content_type=JSON), 401)


# --- garbage in, the one error shape out --------------------------------------------------

GARBAGE: list[tuple[str, str | bytes]] = [
    ("not json", "{not json"),
    ("empty", ""),
    ("array", "[1, 2, 3]"),
    ("string", '"a string"'),
    ("number", "42"),
    ("null", "null"),
    ("nan", '{"input": {"topic": NaN}, "decision": NaN, "version": NaN}'),
    ("nul", '{"input": {"topic": "a\\u0000b"}, "decision": "approve", "reason": "\\u0000"}'),
    ("deep", "[" * 100_000 + "]" * 100_000),
    ("deep object", '{"input": ' + '{"a": ' * 200 + "1" + "}" * 200 + "}"),
    ("bad bytes", b"\xff\xfe\x00garbage"),
    ("wrong types", '{"input": "text", "version": "two", "decision": 5, "reason": [1]}'),
    ("huge string", '{"input": {"topic": "' + "x" * 3_000_000 + '"}}'),
    ("huge number", '{"input": {"words": 1' + "0" * 5000 + '}, "version": 1e999}'),
]


@pytest.fixture
def endpoints(api: Callable[[str], Client]) -> list[str]:
    save(api, agent_flow())
    save(api, approval_flow())
    run_id, approval = parked_run(api)
    return [
        "/api/flows",
        "/api/flows/validate",
        "/api/flows/brief-writer/runs",
        "/api/flows/brief-writer/publish",
        f"/api/runs/{run_id}/cancel",
        f"/api/runs/{run_id}/retry",
        f"/api/approvals/{approval.id}/decision",
    ]


@pytest.mark.parametrize(("name", "body"), GARBAGE, ids=[name for name, _ in GARBAGE])
def test_garbage_bodies_get_the_error_shape_never_a_500(
    api: Callable[[str], Client], endpoints: list[str], name: str, body: str | bytes
) -> None:
    for path in endpoints:
        for content_type in (JSON, "application/yaml", MULTIPART_CONTENT):
            if content_type == MULTIPART_CONTENT and not isinstance(body, str):
                continue
            response = api("admin").generic("POST", path, body, content_type=content_type)
            assert response.status_code < 500, (path, content_type, response.content[:300])
            if response.status_code >= 400:
                error_of(response, response.status_code)


def test_garbage_query_parameters_get_the_error_shape(api: Callable[[str], Client]) -> None:
    for path in (
        "/api/runs?limit=lots",
        "/api/runs?limit=" + "9" * 50,
        "/api/runs?status=exploded",
        "/api/runs?flow=" + "x" * 5000,
        "/api/runs?cursor=" + "%00" * 10,
        "/api/approvals/not-a-number",
        "/api/approvals?cursor=%F0%9F%92%A5",
        "/api/flows/brief-writer/export?version=-1",
        "/api/flows/brief-writer/export?version=" + "9" * 40,
    ):
        response = api("viewer").get(path)
        assert response.status_code < 500, path
        if response.status_code >= 400:
            error_of(response, response.status_code)


def test_an_unknown_api_path_is_a_json_404(api: Callable[[str], Client]) -> None:
    error_of(api("viewer").get("/api/nothing/here"), 404, "not_found")
    error_of(Client().post("/api/nothing/here", "{}", content_type=JSON), 404, "not_found")


def test_a_wrong_method_is_a_json_405(api: Callable[[str], Client]) -> None:
    response = api("admin").delete("/api/flows")
    error = error_of(response, 405, "method_not_allowed")
    assert "DELETE" in error["message"]
    assert "GET" in response["Allow"]


# --- cursor pagination ---------------------------------------------------------------------


def test_next_cursor_walks_every_run_once_newest_first(api: Callable[[str], Client]) -> None:
    save(api, approval_flow())
    started = [start(api, "sign-off", {"topic": f"topic {i}"}).json()["run_id"] for i in range(7)]
    seen: list[str] = []
    pages = 0
    url = "/api/runs?limit=3"
    while url:
        response = api("viewer").get(url)
        assert response.status_code == 200
        body = response.json()
        assert len(body["items"]) <= 3
        seen += [item["id"] for item in body["items"]]
        pages += 1
        url = f"/api/runs?limit=3&cursor={body['next_cursor']}" if body["next_cursor"] else ""
    assert pages == 3
    assert seen == list(reversed(started))


def test_runs_can_be_filtered_by_flow_and_status(api: Callable[[str], Client]) -> None:
    save(api, approval_flow())
    save(api, agent_flow())
    start(api, "sign-off")
    start(api, "brief-writer")
    by_flow = api("viewer").get("/api/runs?flow=sign-off").json()["items"]
    assert [item["flow"] for item in by_flow] == ["sign-off"]
    waiting = api("viewer").get("/api/runs?status=waiting_approval").json()["items"]
    assert [item["flow"] for item in waiting] == ["sign-off"]
    error_of(api("viewer").get("/api/runs?flow=nope"), 404)


def _cursor(raw: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(raw).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        "garbage",
        "%%%",
        _cursor(["2026-01-01T00:00:00+00:00", "not-a-uuid"]),
        _cursor(["2026-01-01T00:00:00", "7a1e2d3c-4b5a-4968-8776-5d4c3b2a1908"]),
        _cursor(["yesterday", "0c9b8a7d-6e5f-4a3b-9c2d-1e0f9a8b7c6d"]),
        _cursor({"created": "2026-01-01T00:00:00+00:00"}),
        _cursor([1, 2, 3]),
    ],
)
def test_a_cursor_this_api_did_not_make_is_a_400(api: Callable[[str], Client], cursor: str) -> None:
    error = error_of(api("viewer").get(f"/api/runs?cursor={cursor}"), 400)
    assert "cursor" in error["message"]
    error_of(api("viewer").get(f"/api/approvals?cursor={cursor}"), 400)


def test_runs_can_be_filtered_by_subject_version_and_time(api: Callable[[str], Client]) -> None:
    save(api, approval_flow())
    first = start(api, "sign-off", {"topic": "pricing"}).json()["run_id"]
    save(api, approval_flow())  # version 2
    second = start(api, "sign-off", {"topic": "hiring"}).json()["run_id"]
    Run.objects.filter(id=first).update(created_at=timezone.now() - timedelta(days=2))

    def ids(query: str) -> list[str]:
        response = api("viewer").get(f"/api/runs?{query}")
        assert response.status_code == 200, response.content
        return [item["id"] for item in response.json()["items"]]

    assert ids("subject=pricing") == [first]
    assert ids("flow=sign-off&version=2") == [second]
    yesterday = (timezone.now() - timedelta(days=1)).isoformat().replace("+00:00", "Z")
    assert ids(f"since={yesterday}") == [second]
    assert ids(f"until={yesterday}") == [first]
    assert ids(f"flow=sign-off&subject=hiring&since={yesterday}") == [second]
    error_of(api("viewer").get("/api/runs?version=2"), 400)
    error_of(api("viewer").get("/api/runs?since=2026-11-21T09:00:00"), 400)
    error_of(api("viewer").get("/api/runs?since=yesterday"), 422)


def test_templates_and_conditions_preview_against_sample_data(api: Callable[[str], Client]) -> None:
    def preview(body: dict[str, Any]) -> HttpResponse:
        return api("viewer").post("/api/expressions/preview", json.dumps(body), content_type=JSON)

    sample = {"input": {"topic": "pricing", "amount": 700}, "steps": {"score": {"value": 82}}}
    rendered = preview({"kind": "template", "text": "About {{ input.topic | upper }}", **sample})
    assert rendered.json() == {"value": "About PRICING"}
    typed = preview({"kind": "template", "text": "{{ steps.score.output }}", **sample})
    assert typed.json() == {"value": {"value": 82}}  # one expression keeps its type
    condition = "input.amount > 500 and steps.score.output.value >= 70"
    assert preview({"kind": "condition", "text": condition, **sample}).json() == {"value": True}
    bad = error_of(preview({"kind": "condition", "text": "input.amount >", **sample}), 400)
    assert bad["code"] == "invalid_expression" and bad["details"][0]["pointer"] == "/text"
    escape = preview({"kind": "template", "text": "{{ ''.__class__.__mro__ }}", **sample})
    assert escape.status_code == 400
    error_of(preview({"kind": "python", "text": "1"}), 422)


def test_the_load_of_a_live_version_counts_runs_by_node(api: Callable[[str], Client]) -> None:
    save(api, approval_flow())
    for topic in ("a", "b", "c"):
        start(api, "sign-off", {"topic": topic})
    Run.objects.filter(input__topic="c").update(status="cancelled")  # ended runs do not count
    load = api("viewer").get("/api/flows/sign-off/load").json()
    assert load["runs_in_flight"] == 2
    assert load["nodes"]["review"]["waiting"] == 2 and load["nodes"]["review"]["active"] == 0
    assert load["nodes"]["review"]["waiting_since"]
    assert "done" not in load["nodes"]
    error_of(api("viewer").get("/api/flows/sign-off/load?version=9"), 404)
    error_of(api("viewer").get("/api/flows/nope/load"), 404)


def test_create_only_never_gives_an_existing_flow_a_new_version(
    api: Callable[[str], Client],
) -> None:
    """The editor saves a copy of a template with ``If-None-Match: *``: a slug taken meanwhile
    (another designer, another tab) is refused with 412, and the existing flow is untouched."""
    doc = agent_flow()
    designer = api("designer")
    first = designer.post(
        "/api/flows",
        json.dumps(doc),
        content_type="application/json",
        headers={"If-None-Match": "*"},
    )
    assert first.status_code == 201, first.content
    again = designer.post(
        "/api/flows",
        json.dumps({**doc, "name": "Someone else's"}),
        content_type="application/json",
        headers={"If-None-Match": "*"},
    )
    assert again.status_code == 412
    assert again.json()["error"]["code"] == "exists"
    assert again.json()["error"]["details"][0]["pointer"] == "/slug"
    assert designer.get("/api/flows/brief-writer").json()["versions"] == [1]


def test_times_with_any_iso_offset_are_taken_as_their_instant(
    api: Callable[[str], Client],
) -> None:
    """ISO 8601 allows offsets up to ±23:59, PostgreSQL's input ±15:59: the API converts to UTC
    before querying (the fuzz test had a 500 for ``until=…+16:00``); naive times stay a 400."""
    viewer = api("viewer")
    far = viewer.get("/api/runs", {"until": "2000-01-01T00:00:00+23:48"})
    assert far.status_code == 200, far.content
    naive = viewer.get("/api/runs", {"since": "2026-11-21T09:00:00"})
    assert naive.status_code == 400
    assert "time zone" in naive.json()["error"]["message"]
    edge = viewer.get("/api/runs", {"since": "0001-01-01T00:00:00+01:00"})
    assert edge.status_code == 400
    assert "out of range" in edge.json()["error"]["message"]
