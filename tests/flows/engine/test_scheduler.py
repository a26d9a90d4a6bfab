"""Scheduling semantics: routing, fan-out/fan-in, maps, loops, approvals, waits, subflows.

Steps are executed in this process with ``drive`` (the same runner code the Celery task calls);
real worker processes are exercised in ``test_durability.py``.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from controlroom.accounts import user_ensure
from controlroom.roles import Role
from flows.approvals.decisions import Decision, approval_decide
from flows.engine import reconciler, runs
from flows.models import Approval, Run, Step
from tests.support.approvals import shown
from tests.support.flows import _family, document, drive, node, save, scripted

pytestmark = pytest.mark.django_db


@pytest.fixture
def approver(db):
    return user_ensure(username="approver", role=Role.APPROVER)


def statuses(run: Run) -> dict[str, str]:
    return {
        f"{s.node_id}{'[' + s.scope + ']' if s.scope else ''}": s.status
        for s in run.steps.order_by("id")
    }


def approve_all(user, *, decision="approve", output=None):
    def decide(run: Run) -> bool:
        pending = Approval.objects.filter(run_id__in=_family(run), status="pending").first()
        if pending is None:
            return False
        approval_decide(
            approval_id=pending.id,
            user=user,
            decision=Decision(decision, output=output, shown_hash=shown(pending.id)),
        )
        return True

    return decide


def start(doc, data=None) -> Run:
    run, _ = runs.run_start(flow=save(doc), input=data or {})
    return run


def test_router_takes_the_first_matching_route_and_skips_the_rest():
    doc = document(
        "router",
        [
            node("score", "agent", agent="scorer"),
            node("route", "router"),
            node("hot", "end", output="hot"),
            node("warm", "end", output="warm"),
            node("cold", "end", output="cold"),
        ],
        [
            ("score", "route"),
            {"from": "route", "to": "hot", "when": "steps.score.output.score >= 80"},
            {"from": "route", "to": "warm", "when": "steps.score.output.score >= 50"},
            {"from": "route", "to": "cold"},
        ],
        agents=[scripted("scorer", {"score": 90}, output="json")],
    )
    run = drive(start(doc))
    assert run.status == "succeeded"
    assert run.output == "hot"
    assert statuses(run)["warm"] == "skipped"
    assert statuses(run)["cold"] == "skipped"


def test_router_default_edge_is_taken_when_no_route_matches():
    doc = document(
        "router-default",
        [node("route", "router"), node("a", "end", output="a"), node("b", "end", output="b")],
        [{"from": "route", "to": "a", "when": "input.x == 1"}, {"from": "route", "to": "b"}],
    )
    assert drive(start(doc, {"x": 2})).output == "b"


def _fan(mode: str, **join_config):
    return document(
        f"fan-{mode}",
        [
            node("split", "parallel"),
            node("fast", "agent", agent="fast"),
            node("slow", "agent", agent="slow"),
            node("third", "agent", agent="fast"),
            node("gather", "join", mode=mode, **join_config),
        ],
        [
            ("split", "fast"),
            ("split", "slow"),
            ("split", "third"),
            ("fast", "gather"),
            ("slow", "gather"),
            ("third", "gather"),
        ],
        agents=[scripted("fast", "F"), scripted("slow", "S")],
    )


def test_join_all_waits_for_every_branch():
    run = start(_fan("all"))
    step = Step.objects.get(run=run, node_id="fast")
    from flows.engine import runner

    runner.step_execute(step_id=step.id)
    assert not Step.objects.filter(run=run, node_id="gather").exists()
    run = drive(run)
    assert run.status == "succeeded"
    assert run.output == {"fast": "F", "slow": "S", "third": "F"}


def test_join_any_goes_on_with_the_first_branch_and_fires_once():
    run = start(_fan("any"))
    from flows.engine import runner

    runner.step_execute(step_id=Step.objects.get(run=run, node_id="slow").id)
    gather = Step.objects.get(run=run, node_id="gather")
    assert gather.status == "succeeded"
    assert gather.output == {"slow": "S"}
    run = drive(run)
    assert Step.objects.filter(run=run, node_id="gather").count() == 1
    assert run.status == "succeeded"


def test_join_first_n_waits_for_n_branches():
    run = start(_fan("first", count=2))
    from flows.engine import runner

    runner.step_execute(step_id=Step.objects.get(run=run, node_id="fast").id)
    assert not Step.objects.filter(run=run, node_id="gather").exists()
    runner.step_execute(step_id=Step.objects.get(run=run, node_id="third").id)
    assert set(Step.objects.get(run=run, node_id="gather").output) == {"fast", "third"}


def test_join_all_after_a_router_counts_skipped_branches_as_arrived():
    doc = document(
        "router-join",
        [
            node("route", "router", mode="first"),
            node("a", "agent", agent="w"),
            node("b", "agent", agent="w"),
            node("merge", "join", mode="all"),
            node("done", "end", output="{{ steps.merge.output | tojson }}"),
        ],
        [
            {"from": "route", "to": "a", "when": "true"},
            {"from": "route", "to": "b"},
            ("a", "merge"),
            ("b", "merge"),
            ("merge", "done"),
        ],
        agents=[scripted("w", "A")],
    )
    run = drive(start(doc))
    assert run.status == "succeeded"
    assert statuses(run)["b"] == "skipped"
    assert run.output == '{"a": "A"}'


def test_map_runs_the_body_per_item_with_a_concurrency_limit_and_keeps_order():
    doc = document(
        "mapper",
        [
            node("each", "map", items="{{ input.numbers }}", body="double", concurrency=2),
            node("double", "agent", agent="doubler"),
        ],
        [],
        agents=[scripted("doubler", "{{ item * 2 }}")],
    )
    run = start(doc, {"numbers": [1, 2, 3, 4, 5]})
    assert Step.objects.filter(run=run, node_id="double").count() == 2
    from flows.engine import runner

    runner.step_execute(step_id=Step.objects.filter(run=run, node_id="double").first().id)
    assert Step.objects.filter(run=run, node_id="double", status="queued").count() == 2
    run = drive(run)
    assert run.status == "succeeded"
    assert run.output == ["2", "4", "6", "8", "10"]
    assert Step.objects.get(run=run, node_id="each").output == run.output


def test_map_over_an_empty_list_outputs_an_empty_list():
    doc = document(
        "empty-map",
        [
            node("each", "map", items="{{ input.numbers }}", body="double"),
            node("double", "agent", agent="doubler"),
        ],
        [],
        agents=[scripted("doubler", "x")],
    )
    run = drive(start(doc, {"numbers": []}))
    assert run.status == "succeeded"
    assert run.output == []


def test_map_items_that_are_not_a_list_fail_the_run_with_a_clear_error():
    doc = document(
        "bad-map",
        [
            node("each", "map", items="{{ input.numbers }}", body="double"),
            node("double", "agent", agent="doubler"),
        ],
        [],
        agents=[scripted("doubler", "x")],
    )
    run = drive(start(doc, {"numbers": "nope"}))
    assert run.status == "failed"
    assert "map items must be a list" in run.error


def _review_loop(slug: str, approvals: list[bool], **loop_config):
    return document(
        slug,
        [
            node("write", "agent", agent="writer"),
            node("audit", "agent", agent="auditor"),
            node("again", "loop", until="steps.audit.output.ok", **loop_config),
            node("publish", "end", output="{{ steps.write.output }}"),
        ],
        [("write", "audit"), ("audit", "again"), ("again", "write"), ("again", "publish")],
        agents=[
            scripted("writer", "draft {{ loop.iteration }}"),
            scripted("auditor", *[{"ok": ok} for ok in approvals], output="json"),
        ],
    )


def test_loop_repeats_until_its_condition_holds():
    run = drive(start(_review_loop("loop-ok", [False, False, True], max_iterations=5)))
    assert run.status == "succeeded"
    assert run.output == "draft 2"
    assert Step.objects.filter(run=run, node_id="write").count() == 3
    assert Step.objects.get(run=run, node_id="again", scope="again#2").output["exit"] == "condition"


def test_loop_exits_after_max_iterations_by_default():
    run = drive(start(_review_loop("loop-max", [False], max_iterations=3)))
    assert run.status == "succeeded"
    assert Step.objects.filter(run=run, node_id="write").count() == 3
    assert run.output == "draft 2"


def test_loop_can_fail_at_max_iterations_with_a_clear_reason():
    run = drive(start(_review_loop("loop-fail", [False], max_iterations=2, on_max="fail")))
    assert run.status == "failed"
    assert "reached 2 iterations" in run.error


def test_loop_escalates_to_a_person_at_max_iterations(approver):
    run = start(
        _review_loop(
            "loop-escalate",
            [False],
            max_iterations=2,
            on_max="escalate",
            escalation_draft="{{ steps.write.output }}",
        )
    )
    run = drive(run)
    assert run.status == "waiting_approval"
    approval = Approval.objects.get(run=run)
    assert approval.draft == "draft 1"
    run = drive(run, decide=approve_all(approver))
    assert run.status == "succeeded"


def test_loop_escalation_rejected_fails_the_run(approver):
    run = start(_review_loop("loop-escalate-no", [False], max_iterations=1, on_max="escalate"))
    run = drive(run, decide=approve_all(approver, decision="reject"))
    assert run.status == "failed"
    assert "was rejected" in run.error


def _approval_flow(slug: str):
    return document(
        slug,
        [
            node("draft", "agent", agent="writer"),
            node(
                "review",
                "approval",
                title="Check {{ input.name }}",
                draft="{{ steps.draft.output }}",
            ),
            node("send", "end", output="{{ steps.review.output.output }}"),
            node("log_rejection", "end", output="rejected: {{ steps.review.output.reason }}"),
        ],
        [
            ("draft", "review"),
            ("review", "send"),
            {
                "from": "review",
                "to": "log_rejection",
                "when": "steps.review.output.decision == 'rejected'",
            },
        ],
        agents=[scripted("writer", "Hi {{ input.name }}")],
    )


def test_approval_parks_the_run_holding_no_worker_and_an_edit_resumes_it(approver):
    run = drive(start(_approval_flow("approve-edit"), {"name": "Ada"}))
    assert run.status == "waiting_approval"
    review = Step.objects.get(run=run, node_id="review")
    assert review.status == "waiting"
    assert not Step.objects.filter(run=run, status__in=["queued", "running"]).exists()
    approval = Approval.objects.get(run=run)
    assert approval.title == "Check Ada"
    assert approval.draft == "Hi Ada"
    run = drive(run, decide=approve_all(approver, output="Hello Ada!"))
    assert run.status == "succeeded"
    assert run.output == "Hello Ada!"
    review.refresh_from_db()
    assert review.output["edited"] is True


def test_rejection_follows_only_conditional_edges(approver):
    run = start(_approval_flow("reject"), {"name": "Ada"})
    pending = drive(run)
    approval = Approval.objects.get(run=pending)
    approval_decide(
        approval_id=approval.id,
        user=approver,
        decision=Decision("reject", reason="too pushy", shown_hash=shown(approval.id)),
    )
    run.refresh_from_db()
    assert run.status == "succeeded"
    assert run.output == "rejected: too pushy"
    assert statuses(run)["send"] == "skipped"


def test_wait_parks_until_its_due_time_and_the_scheduler_fires_it():
    doc = document(
        "waiter",
        [node("pause", "wait", seconds=3600), node("done", "end", output="ok")],
        [("pause", "done")],
    )
    run = start(doc)
    step = Step.objects.get(run=run, node_id="pause")
    assert step.status == "waiting"
    assert reconciler.fire_due_waits() == 0
    Step.objects.filter(id=step.id).update(due_at=timezone.now() - timedelta(seconds=1))
    assert reconciler.fire_due_waits() == 1
    run.refresh_from_db()
    assert run.status == "succeeded"
    assert run.output == "ok"


def test_subflow_runs_another_flow_and_uses_its_output():
    save(
        document(
            "child",
            [node("greet", "agent", agent="greeter")],
            [],
            agents=[scripted("greeter", "hello {{ input.who }}")],
        )
    )
    parent = document(
        "parent",
        [
            node("call", "subflow", flow="child", input={"who": "{{ input.name }}"}),
            node("done", "end", output="{{ steps.call.output }}!"),
        ],
        [("call", "done")],
    )
    run = drive(start(parent, {"name": "Grace"}))
    assert run.status == "succeeded"
    assert run.output == "hello Grace!"
    child = Run.objects.get(parent_step__run=run)
    assert child.status == "succeeded"
    assert child.root_run_id != run.root_run_id


def test_a_failing_subflow_fails_its_parent():
    save(
        document(
            "bad-child",
            [node("x", "agent", agent="strict")],
            [],
            agents=[scripted("strict", "not json", output="json")],
        )
    )
    parent = document("parent-2", [node("call", "subflow", flow="bad-child")], [])
    run = drive(start(parent))
    assert run.status == "failed"
    assert "subflow 'bad-child' failed" in run.error


def test_end_node_finishes_the_run_and_cancels_other_branches():
    doc = document(
        "early-end",
        [
            node("split", "parallel"),
            node("stop", "end", output="stopped"),
            node("long", "agent", agent="slow"),
        ],
        [("split", "long"), ("split", "stop")],
        agents=[scripted("slow", "late")],
    )
    run = start(doc)
    run.refresh_from_db()
    assert run.status == "succeeded"
    assert run.output == "stopped"
    assert Step.objects.get(run=run, node_id="long").status == "cancelled"


def test_json_output_violating_the_schema_fails_without_retry():
    doc = document(
        "schema",
        [node("q", "agent", agent="qualifier")],
        [],
        agents=[
            scripted(
                "qualifier",
                {"score": "high"},
                output="json",
                output_schema={"type": "object", "properties": {"score": {"type": "integer"}}},
            )
        ],
    )
    run = drive(start(doc))
    assert run.status == "failed"
    step = Step.objects.get(run=run)
    assert step.attempt == 1
    assert step.error_class == "domain"
    assert "does not match its output schema" in step.error


def test_agent_usage_and_cost_are_recorded_per_step_and_per_run():
    doc = document(
        "costs",
        [node("a", "agent", agent="priced"), node("b", "agent", agent="priced")],
        [("a", "b")],
        agents=[scripted("priced", "x" * 400, price_in_per_1k="1", price_out_per_1k="2")],
    )
    run = drive(start(doc))
    steps = list(run.steps.order_by("id"))
    assert all(step.tokens_out == 100 for step in steps)
    assert run.tokens_out == 200
    assert run.cost == sum(step.cost for step in steps)
    assert run.cost > 0


def test_input_is_validated_and_only_snapshot_fields_reach_the_run():
    doc = document(
        "snapshot",
        [node("done", "end", output="{{ input | tojson }}")],
        [],
        input_schema={
            "type": "object",
            "required": ["email"],
            "properties": {"email": {"type": "string"}},
        },
        trigger={"type": "manual", "snapshot": ["email"]},
        subject="{{ input.email }}",
    )
    flow = save(doc)
    with pytest.raises(runs.RunError) as refused:
        runs.run_start(flow=flow, input={"name": "x"})
    assert refused.value.details[0]["message"] == "'email' is a required property"
    run, _ = runs.run_start(flow=flow, input={"email": "a@b.c", "ssn": "123"})
    run.refresh_from_db()
    assert run.input == {"email": "a@b.c"}
    assert run.subject == "a@b.c"
    assert run.events.get(kind="input.dropped").data == {"fields": ["ssn"]}


def test_cancelling_a_waiting_run_cancels_its_approvals(approver):
    run = drive(start(_approval_flow("cancel-approval"), {"name": "Ada"}))
    runs.run_cancel(run_id=run.id)
    run.refresh_from_db()
    assert run.status == "cancelled"
    assert Approval.objects.get(run=run).status == "cancelled"
    with pytest.raises(runs.RunError):
        runs.run_retry(
            run_id=Run.objects.create(
                flow=run.flow, version=run.version, root_run_id=run.id, status="succeeded"
            ).id
        )
