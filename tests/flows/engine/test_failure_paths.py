"""Failure paths and rejections, on the shared real Celery worker and scheduler.

A rejected approval that no edge continues fails the run (class ``rejected``, the reason as
its error) and nothing after it happens; an edge on the rejection continues it. A step that
fails for good after its retries follows its error edge (``steps.<id>.error`` downstream) or,
with ``on_error: continue``, succeeds with the error as its output.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from agents.models import OutboxMessage
from flows.approvals.decisions import Decision, approval_decide
from flows.engine import reconciler, runs
from flows.models import Approval, Run, Step
from tests.support.approvals import cast, review_flow, shown
from tests.support.flows import document, node, save, scripted, wait_terminal
from tests.support.wait import wait_for

__all__ = ["cast"]

# committed rows: the steps run on a real worker process with its own connection
pytestmark = pytest.mark.django_db(transaction=True)

ALWAYS_FAILS = {"failures": 1000}
TWO_QUICK_ATTEMPTS = {"max_attempts": 2, "backoff_seconds": 0}


def _gated_email(slug: str, *edges: dict[str, Any], **review: Any) -> dict[str, Any]:
    """write → review (approval) → send (a real e-mail) → done; ``edges`` lead from the
    approval to ``apologise``, there only when they are."""
    nodes = [
        node("write", "agent", agent="writer"),
        node("review", "approval", draft="{{ steps.write.output }}", **review),
        node(
            "send",
            "tool",
            tool="send_email",
            args={"to": "lead@example.com", "body": "{{ steps.review.output.output }}"},
        ),
        node("done", "end", output="{{ steps.send.output.status }}"),
    ]
    if edges:
        nodes.append(node("apologise", "end", output="not sent: {{ steps.review.output.reason }}"))
    return document(
        slug,
        nodes,
        [("write", "review"), ("review", "send"), ("send", "done"), *edges],
        agents=[scripted("writer", "Hello, want a demo?")],
    )


def _run_page(run: Run, user: Any) -> str:
    client = Client()
    client.force_login(user)
    response = client.get(f"/runs/{run.id}/")
    assert response.status_code == 200
    return response.content.decode()


def _pending(run: Run) -> Approval:
    return wait_for(
        lambda: Approval.objects.filter(run=run, status="pending").first(),
        message="the approval to reach the inbox",
    )


def _reject(approval: Approval, user: Any, reason: str) -> None:
    approval_decide(
        approval_id=approval.id,
        user=user,
        decision=Decision("reject", reason=reason, shown_hash=shown(approval.id)),
    )


def test_a_rejection_no_edge_continues_fails_the_run_and_sends_nothing(
    celery_worker: Any, cast: dict[str, Any]
) -> None:
    run, _ = runs.run_start(flow=save(_gated_email("gated-reject")), input={})
    _reject(_pending(run), cast["approver"], "off-brand tone")
    run = wait_terminal(run)
    assert (run.status, run.error_class, run.error) == ("failed", "rejected", "off-brand tone")
    assert run.output is None
    review = Step.objects.get(run=run, node_id="review")
    assert review.status == "succeeded"  # the approval itself worked: a person decided
    assert (review.output or {})["decision"] == "rejected"
    assert not Step.objects.filter(run=run, node_id__in=["send", "done"]).exists()
    assert OutboxMessage.objects.count() == 0
    assert "<strong>Rejected:</strong> off-brand tone" in _run_page(run, cast["viewer"])


def test_retrying_a_rejected_run_asks_a_person_again(
    celery_worker: Any, cast: dict[str, Any]
) -> None:
    run, _ = runs.run_start(flow=save(_gated_email("gated-retry")), input={})
    first = _pending(run)
    _reject(first, cast["approver"], "not now")
    assert wait_terminal(run).error_class == "rejected"
    retry = runs.run_retry(run_id=run.id)
    second = _pending(retry)
    assert second.id != first.id
    assert Step.objects.get(run=retry, node_id="write").reused_from_id is not None
    assert OutboxMessage.objects.count() == 0


def test_a_deadline_rejection_no_edge_continues_fails_the_run(
    celery_worker: Any, cast: dict[str, Any]
) -> None:
    run, _ = runs.run_start(
        flow=save(_gated_email("gated-deadline", deadline_minutes=30)), input={}
    )
    approval = _pending(run)
    Approval.objects.filter(id=approval.id).update(
        deadline_at=timezone.now() - timedelta(seconds=1)
    )
    reconciler.fire_due_approvals()
    run = wait_terminal(run)
    assert (run.status, run.error_class) == ("failed", "rejected")
    assert run.error == "the deadline passed with no decision"
    assert OutboxMessage.objects.count() == 0


def test_a_rejection_an_edge_routes_continues_the_run(
    celery_worker: Any, cast: dict[str, Any]
) -> None:
    on_rejection = {
        "from": "review",
        "to": "apologise",
        "when": "steps.review.output.decision == 'rejected'",
    }
    run, _ = runs.run_start(flow=save(_gated_email("gated-routed", on_rejection)), input={})
    _reject(_pending(run), cast["approver"], "too pushy")
    run = wait_terminal(run)
    assert (run.status, run.error_class) == ("succeeded", "")
    assert run.output == "not sent: too pushy"
    assert Step.objects.get(run=run, node_id="send").status == "skipped"
    assert OutboxMessage.objects.count() == 0


def test_an_approved_draft_still_goes_out(celery_worker: Any, cast: dict[str, Any]) -> None:
    run, _ = runs.run_start(flow=save(review_flow("plain-approve")), input={"topic": "x"})
    approval = _pending(run)
    approval_decide(
        approval_id=approval.id,
        user=cast["approver"],
        decision=Decision("approve", shown_hash=shown(approval.id)),
    )
    run = wait_terminal(run)
    assert (run.status, run.output) == ("succeeded", "A post about x.")


def _fetch_then_email(slug: str, *, on_error: str | None = None, error_edge: bool) -> dict:
    """fetch (fails every attempt) → send (an e-mail) → done; with ``error_edge``, fetch's
    failure goes to ``fallback`` instead."""
    fetch = node("fetch", "tool", tool="flaky", args=ALWAYS_FAILS, retry=TWO_QUICK_ATTEMPTS)
    if on_error is not None:
        fetch["on_error"] = on_error
    nodes = [
        fetch,
        node(
            "send",
            "tool",
            tool="send_email",
            args={
                "to": "lead@example.com",
                "body": "call {{ steps.fetch.output.succeeded_on_call }}",
            },
        ),
        node("done", "end", output="{{ steps.send.output.status }}"),
    ]
    edges: list[Any] = [("fetch", "send"), ("send", "done")]
    if error_edge:
        nodes.append(
            node(
                "fallback",
                "end",
                output={
                    "class": "{{ steps.fetch.error.class }}",
                    "message": "{{ steps.fetch.error.message }}",
                    "status": "{{ steps.fetch.status }}",
                },
            )
        )
        edges.append({"from": "fetch", "to": "fallback", "on": "error"})
    return document(slug, nodes, edges)


def test_an_error_edge_is_taken_after_the_retries_with_the_error_downstream(
    celery_worker: Any, celery_beat: Any, cast: dict[str, Any]
) -> None:
    run, _ = runs.run_start(flow=save(_fetch_then_email("error-edge", error_edge=True)), input={})
    run = wait_terminal(run)
    assert (run.status, run.error, run.error_class) == ("succeeded", "", "")
    fetch = Step.objects.get(run=run, node_id="fetch")
    assert (fetch.status, fetch.attempt, fetch.error_class) == ("failed", 2, "transient")
    assert fetch.taken == [2]  # the error edge, the only one taken
    assert run.output == {
        "class": "transient",
        "message": "flaky failure 2",
        "status": "failed",
    }
    # Normal edges are not taken from a failed step: the e-mail path is dead.
    assert Step.objects.get(run=run, node_id="send").status == "skipped"
    assert OutboxMessage.objects.count() == 0
    page = _run_page(run, cast["viewer"])
    assert "error path → fallback" in page
    assert 'class="edge edge-error is-travelled"' in page  # the graph shows the path taken


def test_an_error_edge_is_not_taken_when_its_source_succeeds(celery_worker: Any) -> None:
    doc = _fetch_then_email("error-edge-unused", error_edge=True)
    doc["nodes"][0]["config"]["args"] = {"failures": 0}
    run, _ = runs.run_start(flow=save(doc), input={})
    run = wait_terminal(run)
    assert (run.status, run.output) == ("succeeded", "queued"), run.error
    assert Step.objects.get(run=run, node_id="fallback").status == "skipped"
    assert OutboxMessage.objects.count() == 1


def test_continue_on_error_passes_the_error_on(
    celery_worker: Any, celery_beat: Any, cast: dict[str, Any]
) -> None:
    doc = _fetch_then_email("continue", on_error="continue", error_edge=False)
    doc["nodes"][1]["config"]["args"]["body"] = "fetch said: {{ steps.fetch.output.error.message }}"
    run, _ = runs.run_start(flow=save(doc), input={})
    run = wait_terminal(run)
    assert (run.status, run.output) == ("succeeded", "queued")
    fetch = Step.objects.get(run=run, node_id="fetch")
    assert (fetch.status, fetch.attempt) == ("succeeded", 2)
    assert fetch.output == {"error": {"class": "transient", "message": "flaky failure 2"}}
    assert fetch.input["on_error"] == "continued"
    assert OutboxMessage.objects.get().body == "fetch said: flaky failure 2"
    page = _run_page(run, cast["viewer"])
    assert "continued after error" in page
    assert "transient: flaky failure 2" in page


def test_without_a_failure_path_the_run_fails_with_the_step_class(
    celery_worker: Any, celery_beat: Any
) -> None:
    run, _ = runs.run_start(flow=save(_fetch_then_email("no-path", error_edge=False)), input={})
    run = wait_terminal(run)
    assert (run.status, run.error_class) == ("failed", "transient")
    assert run.error == "step 'fetch' failed: flaky failure 2"
    assert OutboxMessage.objects.count() == 0


def test_an_error_edge_arriving_at_a_join_counts_as_an_arrival(celery_worker: Any) -> None:
    doc = document(
        "error-join",
        [
            node("fan", "parallel"),
            node("bad", "tool", tool="flaky", args=ALWAYS_FAILS, retry={"max_attempts": 1}),
            node("good", "tool", tool="counted_sleep", args={"seconds": 0}),
            node("unused", "end", output="never"),
            node("both", "join", mode="all"),
            node(
                "done",
                "end",
                output="{{ steps.bad.error.message }} / {{ steps.good.output.call }}",
            ),
        ],
        [
            ("fan", "bad"),
            ("fan", "good"),
            ("bad", "unused"),
            {"from": "bad", "to": "both", "on": "error"},
            ("good", "both"),
            ("both", "done"),
        ],
    )
    run, _ = runs.run_start(flow=save(doc), input={})
    run = wait_terminal(run)
    assert run.status == "succeeded", run.error
    assert run.output == "flaky failure 1 / 1"
    assert sorted(Step.objects.get(run=run, node_id="both").input["arrived"]) == ["bad", "good"]
    assert Step.objects.get(run=run, node_id="unused").status == "skipped"
