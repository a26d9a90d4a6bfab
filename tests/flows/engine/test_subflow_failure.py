"""A subflow whose child run fails passes the child's error class up, on the shared real
Celery worker: a child stopped by a rejected approval fails the subflow step as ``rejected``
with a message naming the child run, so a parent with no failure path ends ``failed`` /
``rejected``; an error edge on the subflow step continues the parent with
``steps.<id>.error``. What the child spent is in the parent's totals either way.
"""

from __future__ import annotations

from typing import Any

import pytest

from flows.approvals.decisions import Decision, approval_decide
from flows.engine import runs
from flows.models import Approval, Run, Step
from tests.support.approvals import cast, shown
from tests.support.flows import document, node, save, scripted, wait_terminal
from tests.support.wait import wait_for

__all__ = ["cast"]

# committed rows: the steps run on a real worker process with its own connection
pytestmark = pytest.mark.django_db(transaction=True)


def _child(slug: str) -> None:
    """write (a priced scripted agent) → review (approval) → done."""
    save(
        document(
            slug,
            [
                node("write", "agent", agent="writer"),
                node("review", "approval", draft="{{ steps.write.output }}"),
                node("done", "end", output="{{ steps.review.output.output }}"),
            ],
            [("write", "review"), ("review", "done")],
            agents=[
                scripted("writer", "Hello, want a demo?", price_in_per_1k="1", price_out_per_1k="1")
            ],
        )
    )


def _parent(slug: str, child: str, *, error_edge: bool) -> Run:
    nodes = [
        node("call", "subflow", flow=child, input={}),
        node("after", "end", output="sent: {{ steps.call.output }}"),
    ]
    edges: list[Any] = [("call", "after")]
    if error_edge:
        nodes.append(node("fallback", "end", output="{{ steps.call.error.class }}"))
        edges.append({"from": "call", "to": "fallback", "on": "error"})
    run, _ = runs.run_start(flow=save(document(slug, nodes, edges)), input={})
    return run


def _reject_child(parent: Run, user: Any, reason: str) -> Run:
    approval = wait_for(
        lambda: Approval.objects.filter(run__parent_step__run=parent, status="pending").first(),
        message="the child's approval to reach the inbox",
    )
    approval_decide(
        approval_id=approval.id,
        user=user,
        decision=Decision("reject", reason=reason, shown_hash=shown(approval.id)),
    )
    return Run.objects.get(id=approval.run_id)


def test_a_rejected_child_fails_the_parent_as_rejected_naming_the_child(
    celery_worker: Any, cast: dict[str, Any]
) -> None:
    _child("rejected-child")
    parent = _parent("parent-of-rejected", "rejected-child", error_edge=False)
    child = wait_terminal(_reject_child(parent, cast["approver"], "off-brand tone"))
    assert (child.status, child.error_class) == ("failed", "rejected")
    assert child.error == "off-brand tone"

    parent = wait_terminal(parent)
    assert (parent.status, parent.error_class) == ("failed", "rejected")
    assert f"run {child.id}" in parent.error and "off-brand tone" in parent.error
    call = Step.objects.get(run=parent, node_id="call")
    assert (call.status, call.error_class) == ("failed", "rejected")
    assert not Step.objects.filter(run=parent, node_id="after").exists()
    # The child's model spend rolls up into the parent although the child failed.
    assert child.cost > 0
    assert (parent.tokens_in, parent.tokens_out, parent.cost) == (
        child.tokens_in,
        child.tokens_out,
        child.cost,
    )
    assert (call.model, call.cost) == ("subflow:rejected-child", child.cost)


def test_an_error_edge_continues_past_a_rejected_child(
    celery_worker: Any, cast: dict[str, Any]
) -> None:
    _child("rejected-child-2")
    parent = _parent("parent-with-fallback", "rejected-child-2", error_edge=True)
    _reject_child(parent, cast["approver"], "not now")
    parent = wait_terminal(parent)
    assert (parent.status, parent.output) == ("succeeded", "rejected")
    assert Step.objects.get(run=parent, node_id="after").status == "skipped"
