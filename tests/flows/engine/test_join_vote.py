"""A join that votes: majority, ties broken by arrival order or by a person, and the validator."""

from __future__ import annotations

from typing import Any

import pytest

from controlroom.accounts import user_ensure
from controlroom.roles import Role
from flows.approvals.decisions import ApprovalError, Decision, approval_decide
from flows.document import document_problems
from flows.engine import runner, runs
from flows.models import Approval, Run, Step
from tests.support.approvals import shown
from tests.support.flows import document, node, save, scripted, wait_terminal
from tests.support.wait import wait_for


def _debaters(*ballots: tuple[str, int]) -> list[tuple[str, str, int]]:
    return [(f"d{index}", decision, latency) for index, (decision, latency) in enumerate(ballots)]


def _vote_flow(slug: str, debaters: list[tuple[str, str, int]], **join: Any) -> dict[str, Any]:
    """fan (parallel) → one agent per debater → tally (join vote) → done (end)."""
    nodes = [node("fan", "parallel")]
    nodes += [node(name, "agent", agent=name) for name, _, _ in debaters]
    nodes += [
        node("tally", "join", mode="vote", key="{{ output.decision }}", **join),
        node("done", "end", output="{{ steps.tally.output }}"),
    ]
    edges: list[tuple[str, str] | dict[str, Any]] = [("fan", name) for name, _, _ in debaters]
    edges += [(name, "tally") for name, _, _ in debaters] + [("tally", "done")]
    agents = [
        scripted(name, {"decision": decision, "by": name}, output="json", latency_ms=latency)
        for name, decision, latency in debaters
    ]
    return document(slug, nodes, edges, agents=agents)


# --- on real workers --------------------------------------------------------------------------
@pytest.mark.django_db(transaction=True)
def test_five_branches_with_a_clear_majority_elect_it_and_name_the_dissent(celery_worker):
    debaters = _debaters(("yes", 0), ("no", 0), ("yes", 0), ("no", 0), ("yes", 0))
    run, _ = runs.run_start(flow=save(_vote_flow("majority", debaters)), input={})
    run = wait_terminal(run, timeout=90)
    assert run.status == "succeeded", run.error
    assert run.output["winner"] == "yes"
    assert run.output["votes"] == {"yes": 3, "no": 2}
    assert sorted(run.output["dissent"]) == ["d1", "d3"]
    assert run.output["ballots"] == {"d0": "yes", "d1": "no", "d2": "yes", "d3": "no", "d4": "yes"}


@pytest.mark.django_db(transaction=True)
def test_a_tie_with_first_goes_to_the_value_whose_first_vote_arrived_first(celery_worker):
    # d0 votes "no" but arrives last; "yes" (d1, instant) arrives first. Neither document
    # order nor alphabetical order would pick "yes".
    debaters = _debaters(("no", 4000), ("yes", 0), ("no", 0), ("yes", 0))
    run, _ = runs.run_start(flow=save(_vote_flow("tie-first", debaters, tie="first")), input={})
    run = wait_terminal(run, timeout=90)
    assert run.status == "succeeded", run.error
    tally = Step.objects.get(run=run, node_id="tally")
    assert tally.input["arrived"][-1] == "d0"
    assert run.output["votes"] == {"yes": 2, "no": 2}
    assert run.output["winner"] == "yes"
    assert sorted(run.output["dissent"]) == ["d0", "d2"]


@pytest.mark.django_db(transaction=True)
def test_a_tie_with_escalate_asks_a_person_and_their_pick_wins(celery_worker):
    approver = user_ensure(username="approver", role=Role.APPROVER)
    debaters = _debaters(("yes", 0), ("no", 0), ("maybe", 0), ("no", 0), ("yes", 0))
    flow = save(_vote_flow("tie-escalate", debaters, tie="escalate"))
    run, _ = runs.run_start(flow=flow, input={})
    approval = wait_for(
        lambda: Approval.objects.filter(run=run, status="pending").first(),
        timeout=90,
        message="the tie to reach the inbox",
    )
    assert Run.objects.get(id=run.id).status == "waiting_approval"
    assert sorted(approval.draft["tied"]) == ["no", "yes"]
    assert approval.draft["votes"] == {"yes": 2, "no": 2, "maybe": 1}
    assert approval.draft["branches"]["d2"] == {"decision": "maybe", "by": "d2"}
    with pytest.raises(ApprovalError) as refused:  # only a tied value may win
        approval_decide(
            approval_id=approval.id,
            user=approver,
            decision=Decision("approve", output={"winner": "maybe"}, shown_hash=shown(approval.id)),
        )
    assert refused.value.status == 422 and "'maybe'" in refused.value.message
    approval_decide(
        approval_id=approval.id,
        user=approver,
        decision=Decision(
            "approve", output={**approval.draft, "winner": "no"}, shown_hash=shown(approval.id)
        ),
    )
    run = wait_terminal(run, timeout=60)
    assert run.status == "succeeded", run.error
    assert run.output["winner"] == "no"
    assert run.output["votes"] == {"yes": 2, "no": 2, "maybe": 1}
    assert sorted(run.output["dissent"]) == ["d0", "d2", "d4"]


# --- in this process --------------------------------------------------------------------------
@pytest.mark.django_db
def test_arrival_order_not_document_order_breaks_a_tie():
    debaters = _debaters(("no", 0), ("yes", 0))
    run, _ = runs.run_start(flow=save(_vote_flow("order", debaters)), input={})
    for name in ("d1", "d0"):  # d1 ("yes") completes first
        runner.step_execute(step_id=Step.objects.get(run=run, node_id=name).id)
    run.refresh_from_db()
    assert run.status == "succeeded", run.error
    assert run.output["winner"] == "yes"
    assert Step.objects.get(run=run, node_id="tally").input["arrived"] == ["d1", "d0"]


@pytest.mark.django_db
def test_rejecting_a_tie_fails_the_join_as_rejected_with_the_reason():
    approver = user_ensure(username="approver", role=Role.APPROVER)
    debaters = _debaters(("yes", 0), ("no", 0))
    run, _ = runs.run_start(flow=save(_vote_flow("reject-tie", debaters, tie="escalate")), input={})
    for name in ("d0", "d1"):
        runner.step_execute(step_id=Step.objects.get(run=run, node_id=name).id)
    approval = Approval.objects.get(run=run, status="pending")
    approval_decide(
        approval_id=approval.id,
        user=approver,
        decision=Decision("reject", reason="ask again next week", shown_hash=shown(approval.id)),
    )
    tally = Step.objects.get(run=run, node_id="tally")
    assert tally.status == "failed"
    assert tally.error_class == "rejected"
    assert "ask again next week" in tally.error
    assert not Step.objects.filter(run=run, node_id="done").exclude(status="skipped").exists()


@pytest.mark.django_db
def test_branches_whose_key_renders_empty_abstain():
    debaters = _debaters(("yes", 0), ("", 0), ("no", 0), ("yes", 0))
    run, _ = runs.run_start(flow=save(_vote_flow("abstain", debaters)), input={})
    for name in ("d0", "d1", "d2", "d3"):
        runner.step_execute(step_id=Step.objects.get(run=run, node_id=name).id)
    run.refresh_from_db()
    assert run.output["winner"] == "yes"
    assert run.output["votes"] == {"yes": 2, "no": 1}
    assert run.output["dissent"] == ["d2"]
    assert run.output["ballots"]["d1"] is None


# --- the document -------------------------------------------------------------------------------
def _problems(doc: dict[str, Any]) -> dict[str, str]:
    return {problem.pointer: problem.message for problem in document_problems(doc)}


def test_a_vote_needs_a_key_and_key_and_tie_belong_to_votes():
    debaters = _debaters(("yes", 0), ("no", 0))
    doc = _vote_flow("bad-vote", debaters)
    tally = next(n for n in doc["nodes"] if n["id"] == "tally")
    del tally["config"]["key"]
    assert "needs a key template" in _problems(doc)["/nodes/3/config/key"]
    tally["config"] = {"mode": "all", "key": "{{ output }}", "tie": "first"}
    problems = _problems(doc)
    assert "only with join mode 'vote'" in problems["/nodes/3/config/key"]
    assert "only with join mode 'vote'" in problems["/nodes/3/config/tie"]
    tally["config"] = {"mode": "vote", "key": "{{ output.decision }}", "tie": "coin"}
    assert "/nodes/3/config/tie" in _problems(doc)


@pytest.mark.parametrize("shadowing", ["get", "items", "keys", "values"])
def test_node_ids_that_templates_cannot_reach_are_refused_with_a_rename(shadowing):
    doc = document("shadow", [node(shadowing, "end", output="x")], [])
    message = _problems(doc)["/nodes/0/id"]
    assert f"node id {shadowing!r}" in message
    assert f"{{{{ steps.{shadowing}.output }}}} would render null" in message
    assert f"'{shadowing}_step'" in message


def test_node_ids_that_are_other_dict_method_names_stay_readable():
    from controlroom import expressions

    steps = {"update": {"output": 1}, "pop": {"output": 2}, "copy": {"output": 3}}
    assert expressions.render("{{ steps.update.output }}", {"steps": steps}) == 1
    assert expressions.render("{{ steps.pop.output + steps.copy.output }}", {"steps": steps}) == 5
    doc = document("fine", [node("update", "end", output="x")], [])
    assert "/nodes/0/id" not in _problems(doc)


@pytest.mark.django_db
def test_the_tie_shows_in_the_inbox_with_the_tied_values(client):
    approver = user_ensure(username="approver", role=Role.APPROVER)
    debaters = _debaters(("yes", 0), ("no", 0))
    run, _ = runs.run_start(flow=save(_vote_flow("inbox-tie", debaters, tie="escalate")), input={})
    for name in ("d0", "d1"):
        runner.step_execute(step_id=Step.objects.get(run=run, node_id=name).id)
    approval = Approval.objects.get(run=run, status="pending")
    client.force_login(approver)
    page = client.get(f"/approvals/{approval.id}/")
    assert page.status_code == 200
    text = page.content.decode()
    assert "Break the tie: tally (yes / no)" in text
    assert "edit &#x27;winner&#x27;" in text or "edit 'winner'" in text
