"""The cast and flows the approval tests share (``tests/approvals``: the domain, the inbox, the
API): import ``cast`` into a test module (or a conftest) to use it as a fixture."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model

from controlroom.accounts import user_ensure
from controlroom.roles import Role
from flows.engine import runs
from flows.models import Approval, Run
from tests.support.flows import document, drive, node, save, scripted


@pytest.fixture
def cast(db: None) -> dict[str, Any]:
    """One user per role, a second approver, and an outsider with no role."""
    users = {role.value: user_ensure(username=role.value, role=role) for role in Role}
    users["approver2"] = user_ensure(username="approver2", role=Role.APPROVER)
    users["outsider"] = get_user_model().objects.create_user(username="outsider")
    for name, user in users.items():
        user.email = f"{name}@example.test"
        user.save(update_fields=["email"])
    return users


def review_flow(slug: str = "review-flow", **review: Any) -> dict[str, Any]:
    """write (agent) → review (approval) → send (end), a rejection edge to ``dropped``."""
    return document(
        slug,
        [
            node("write", "agent", agent="writer", prompt="{{ input.topic }}"),
            node(
                "review",
                "approval",
                title="Post about {{ input.topic }}",
                draft="{{ steps.write.output }}",
                **review,
            ),
            node("send", "end", output="{{ steps.review.output.output }}"),
            node("dropped", "end", output="dropped: {{ steps.review.output.reason }}"),
        ],
        [
            ("write", "review"),
            ("review", "send"),
            {
                "from": "review",
                "to": "dropped",
                "when": "steps.review.output.decision == 'rejected'",
            },
        ],
        agents=[scripted("writer", "A post about {{ input.topic }}.")],
    )


def parked(doc: dict[str, Any], topic: str = "pricing") -> tuple[Run, Approval]:
    """Start a run of ``doc`` and execute it (in this process) until it waits on a person."""
    run, _ = runs.run_start(flow=save(doc), input={"topic": topic})
    run = drive(run)
    return run, Approval.objects.get(run=run, status="pending")


def shown(approval_id: int) -> str:
    """The hash of what approval ``approval_id`` shows now: what an approver deciding on the
    current draft sends as ``shown_hash`` (every decision needs one)."""
    return str(Approval.objects.values_list("shown_hash", flat=True).get(id=approval_id))
