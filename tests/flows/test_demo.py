"""The demo workspace: every demo flow runs to success on scripted agents, uses memory and at
least one tool, and the support demo answers from the knowledge base."""

from __future__ import annotations

import json
import shutil

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext

from agents.models import Effect, MemoryEntry, OutboxMessage, Record, ToolCall
from controlroom.accounts import user_ensure
from controlroom.roles import Role
from flows import demo as demo_module
from flows.demo import demo_documents, demo_load
from flows.engine import runs
from flows.models import Flow, Step
from tests.support.flows import approve_all, drive, save, wait_terminal

pytestmark = pytest.mark.django_db


@pytest.fixture
def workspace(settings, tmp_path):
    settings.ENV = type(settings.ENV)(**{**settings.ENV.__dict__, "data_dir": tmp_path})
    report = demo_load(password="demo-password-1")
    return report


def test_load_demo_is_idempotent(workspace):
    again = demo_load(password="demo-password-1")
    assert again.flows_saved == []
    assert Flow.objects.count() == len(demo_documents())
    assert all(flow.live_version is not None for flow in Flow.objects.all())


@pytest.mark.parametrize("slug", [doc["slug"] for doc in demo_documents()])
def test_every_demo_flow_runs_and_uses_memory_and_a_tool(workspace, slug):
    approver = user_ensure(username="demo-approver", role=Role.APPROVER)
    flow = Flow.objects.get(slug=slug)
    document = flow.live_version.document
    run, _ = runs.run_start(flow=flow, input=document["sample_input"])
    run = drive(run, decide=approve_all(approver))
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


# --- `make run` loads the demo at every start, with if_changed -------------------------------


@pytest.fixture
def data_dir(settings, tmp_path):
    settings.ENV = type(settings.ENV)(**{**settings.ENV.__dict__, "data_dir": tmp_path / "data"})
    return tmp_path / "data"


def _writes(queries) -> list[str]:
    verbs = ("INSERT", "UPDATE", "DELETE")
    return [q["sql"] for q in queries if q["sql"].lstrip().upper().startswith(verbs)]


def test_a_second_start_loads_nothing_when_the_demo_is_unchanged(data_dir):
    first = demo_load(if_changed=True)
    assert not first.skipped and len(first.flows_saved) == len(demo_documents())
    with CaptureQueriesContext(connection) as queries:
        second = demo_load(if_changed=True)
    assert second.skipped
    assert (second.username, second.password) == ("admin", first.password)
    assert _writes(queries.captured_queries) == []


def test_a_changed_demo_file_is_loaded_at_the_next_start(data_dir, tmp_path, monkeypatch):
    demo = tmp_path / "demo"
    shutil.copytree(demo_module.DEMO_DIR, demo, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(demo_module, "DEMO_DIR", demo)
    demo_load(if_changed=True)
    path = demo / "content-pipeline.json"
    document = json.loads(path.read_text())
    path.write_text(json.dumps({**document, "name": "Content pipeline, revised"}))

    again = demo_load(if_changed=True)
    assert not again.skipped
    assert again.flows_saved == ["content-pipeline"]
    assert Flow.objects.get(slug="content-pipeline").live_version.document["name"] == (
        "Content pipeline, revised"
    )
    assert demo_load(if_changed=True).skipped


def test_a_start_without_the_admin_or_its_password_file_loads_again(data_dir):
    demo_load(if_changed=True)
    get_user_model().objects.filter(username="admin").delete()
    assert not demo_load(if_changed=True).skipped
    assert get_user_model().objects.filter(username="admin").exists()

    (data_dir / "admin_password").unlink()
    reloaded = demo_load(if_changed=True)
    assert not reloaded.skipped  # a new password was made: the admin must get it
    assert get_user_model().objects.get(username="admin").check_password(reloaded.password)


def test_an_explicit_password_is_always_applied(data_dir):
    demo_load(if_changed=True)
    report = demo_load(password="chosen-password-1", if_changed=True)
    assert not report.skipped
    assert get_user_model().objects.get(username="admin").check_password("chosen-password-1")


# committed rows: the steps run on the shared worker process, on its own connection
@pytest.mark.django_db(transaction=True)
def test_debate_and_consensus_runs_end_to_end_on_real_workers(celery_worker):
    template = next(d for d in demo_documents() if d["slug"] == "debate-and-consensus")
    flow = save(template)
    run, _ = runs.run_start(flow=flow, input=template["sample_input"])
    run = wait_terminal(run, timeout=90)
    assert run.status == "succeeded", run.error
    verdict = run.output["verdict"]
    assert verdict["winner"] == "yes"
    assert verdict["votes"] == {"yes": 2, "no": 1}
    assert verdict["dissent"] == ["skeptic"]
    assert run.output["report"] == (
        "Motion: Should we offer a free tier? Verdict: yes, 2 of 3 votes. Dissent: skeptic."
    )
    debaters = Step.objects.filter(run=run, node_id__in=["optimist", "skeptic", "economist"])
    assert sorted(debaters.values_list("status", flat=True)) == ["succeeded"] * 3
    assert OutboxMessage.objects.filter(to="board@example.com").count() == 1
