"""The demo workspace: every demo flow runs to success on scripted agents, uses memory and at
least one tool, and the support demo answers from the knowledge base."""

from __future__ import annotations

import pytest

from agents.models import Effect, MemoryEntry, Record, ToolCall
from controlroom.accounts import user_ensure
from controlroom.roles import Role
from flows.approvals import Decision, approval_decide
from flows.demo import demo_documents, demo_load
from flows.engine import runs
from flows.models import Approval, Flow, Step
from tests.support.flows import _family, drive

pytestmark = pytest.mark.django_db


def _approve(user):
    def decide(run) -> bool:
        pending = Approval.objects.filter(run_id__in=_family(run), status="pending").first()
        if pending is None:
            return False
        approval_decide(approval_id=pending.id, user=user, decision=Decision("approve"))
        return True

    return decide


@pytest.fixture
def workspace(settings, tmp_path):
    settings.ENV = type(settings.ENV)(**{**settings.ENV.__dict__, "data_dir": tmp_path})
    report = demo_load(password="demo-password-1")
    return report


def test_load_demo_is_idempotent(workspace):
    again = demo_load(password="demo-password-1")
    assert again.flows_saved == []
    assert Flow.objects.count() == 4
    assert all(flow.live_version is not None for flow in Flow.objects.all())


@pytest.mark.parametrize("slug", [doc["slug"] for doc in demo_documents()])
def test_every_demo_flow_runs_and_uses_memory_and_a_tool(workspace, slug):
    approver = user_ensure(username="demo-approver", role=Role.APPROVER)
    flow = Flow.objects.get(slug=slug)
    document = flow.live_version.document
    run, _ = runs.run_start(flow=flow, input=document["sample_input"])
    run = drive(run, decide=_approve(approver))
    assert run.status == "succeeded", run.error
    tool_steps = Step.objects.filter(run=run, node_type="tool", status="succeeded").count()
    agent_tool_calls = ToolCall.objects.filter(run_id=run.id).count()
    assert tool_steps + agent_tool_calls >= 1
    assert MemoryEntry.objects.filter(run_id=run.id).exists()


def test_support_demo_answers_from_the_knowledge_base(workspace):
    flow = Flow.objects.get(slug="tier-one-support")
    run, _ = runs.run_start(flow=flow, input=flow.live_version.document["sample_input"])
    run = drive(run)
    assert run.status == "succeeded", run.error
    kb = Step.objects.get(run=run, node_id="kb")
    assert kb.output["article"] == "Shipping times and tracking"
    search = ToolCall.objects.get(step_id=kb.id, tool="knowledge_search")
    assert search.result["count"] >= 1
    draft = Step.objects.get(run=run, node_id="draft").output
    assert "Shipping times and tracking" in draft
    assert Record.objects.filter(kind="ticket", key="T-1042").exists()
    assert Effect.objects.filter(tool="send_email").count() == 1
