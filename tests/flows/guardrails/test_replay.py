"""The policy simulator over runs recorded by the engine: each policy kind replayed against the
steps and tool calls of a period, run by run (``flows.guardrails.replay`` gathers the facts,
``agents.policies.simulator`` decides), and the API that asks for it."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from agents.models import Policy, ToolCall
from agents.policies import PolicySpec
from agents.policies.simulator import Period, Simulation, policy_simulate
from controlroom.accounts import token_issue, user_ensure
from controlroom.roles import Role
from flows.engine import runs
from flows.models import Run
from tests.support.flows import document, drive, node, save, scripted

pytestmark = pytest.mark.django_db


def record_flow() -> dict[str, Any]:
    return document(
        "pay",
        [
            node(
                "book",
                "tool",
                tool="upsert_record",
                args={
                    "kind": "invoice",
                    "key": "{{ input.key }}",
                    "data": {"amount": "{{ input.amount }}"},
                },
            )
        ],
        [],
        subject="{{ input.key }}",
    )


def notes_flow() -> dict[str, Any]:
    return document(
        "notes",
        [node("write", "agent", agent="writer", prompt="Summarise: {{ input.text }}")],
        [],
        agents=[scripted("writer", "Noted. CONFIDENTIAL until Monday.")],
        subject="{{ input.who }}",
    )


def start(doc: dict[str, Any], data: dict[str, Any]) -> Run:
    run, _ = runs.run_start(flow=save(doc), input=data)
    run = drive(run)
    assert run.status == "succeeded", run.error
    return run


@pytest.fixture
def recorded() -> dict[str, Run]:
    """Four runs recorded with no policy in force: three bookings (two for the same invoice
    key, one large) and one agent answer about a message carrying an e-mail address."""
    seeded = {
        "small": start(record_flow(), {"key": "inv-1", "amount": 20}),
        "large": start(record_flow(), {"key": "inv-2", "amount": 900}),
        "again": start(record_flow(), {"key": "inv-1", "amount": 30}),
        "notes": start(notes_flow(), {"who": "bob", "text": "write to bob@example.org"}),
    }
    assert ToolCall.objects.count() == 0  # tool nodes: the call is rebuilt from the node
    return seeded


def spec(kind: str, verdict: str, config: dict[str, Any], **extra: Any) -> PolicySpec:
    return PolicySpec(slug=f"try-{kind}", kind=kind, verdict=verdict, config=config, **extra)


def week() -> Period:
    now = timezone.now()
    return Period(since=now - timedelta(days=7), until=now + timedelta(seconds=1))


def verdicts(simulation: Simulation) -> dict[str, str]:
    return {result.run.run_id: result.verdict for result in simulation.runs}


def by_run(recorded: dict[str, Run], **expected: str) -> dict[str, str]:
    return {str(recorded[name].id): verdict for name, verdict in expected.items()}


def test_an_approval_rule_gates_only_the_large_booking(recorded: dict[str, Run]) -> None:
    policy = spec(
        "approval", "require_approval", {"categories": ["write"], "when": "args.data.amount > 500"}
    )
    simulation = policy_simulate(policy, period=week())
    assert verdicts(simulation) == by_run(
        recorded, small="allow", large="require_approval", again="allow", notes="allow"
    )
    assert simulation.summary["runs_by_verdict"] == {
        "allow": 3,
        "redact": 0,
        "require_approval": 1,
        "block": 0,
    }
    [large] = [r for r in simulation.runs if r.run.run_id == str(recorded["large"].id)]
    assert large.hits[0].label == "tool call upsert_record at book"
    assert "args.data.amount > 500" in large.reason
    assert large.counts == {"allow": 0, "redact": 0, "require_approval": 1, "block": 0}


def test_a_rate_limit_counts_earlier_calls_for_the_same_subject_across_runs(
    recorded: dict[str, Run],
) -> None:
    policy = spec("rate_limit", "block", {"tools": ["upsert_record"], "max": 1, "window": "24h"})
    simulation = policy_simulate(policy, period=week())
    assert verdicts(simulation) == by_run(
        recorded, small="allow", large="allow", again="block", notes="allow"
    )
    [again] = [r for r in simulation.runs if r.run.run_id == str(recorded["again"].id)]
    assert "1 of at most 1 calls for inv-1" in again.reason
    assert again.stopped


def test_the_period_decides_what_is_replayed(recorded: dict[str, Run]) -> None:
    # The first booking of inv-1 happened before the period: the second is then the first.
    Run.objects.filter(id=recorded["small"].id).update(
        created_at=timezone.now() - timedelta(days=10)
    )
    policy = spec("rate_limit", "block", {"tools": ["upsert_record"], "max": 1, "window": "24h"})
    simulation = policy_simulate(policy, period=week())
    assert verdicts(simulation) == by_run(recorded, large="allow", again="allow", notes="allow")
    only_notes = policy_simulate(policy, period=Period(week().since, week().until, flow="notes"))
    assert verdicts(only_notes) == by_run(recorded, notes="allow")


def test_model_call_policies_replay_on_what_the_agent_used_and_sent(
    recorded: dict[str, Run],
) -> None:
    notes = recorded["notes"]
    assert notes.tokens_in + notes.tokens_out > 1
    budget = spec("budget", "block", {"per": "run", "max_tokens": 1})
    assert verdicts(policy_simulate(budget, period=week())) == by_run(
        recorded, small="allow", large="allow", again="allow", notes="block"
    )
    pii = spec("pii", "redact", {"detect": ["email"], "providers": ["scripted"]})
    simulation = policy_simulate(pii, period=week())
    assert verdicts(simulation)[str(notes.id)] == "redact"
    [result] = [r for r in simulation.runs if r.run.run_id == str(notes.id)]
    assert "personal data (email)" in result.reason
    # By default PII rules skip the offline scripted model: nothing would have been redacted.
    default = spec("pii", "redact", {"detect": ["email"]})
    assert set(verdicts(policy_simulate(default, period=week())).values()) == {"allow"}


def test_content_rules_and_scopes_apply_where_they_are_asked(recorded: dict[str, Run]) -> None:
    content = spec("content", "block", {"phrases": ["confidential"]})
    assert verdicts(policy_simulate(content, period=week()))[str(recorded["notes"].id)] == "block"
    # A flow-scoped rule for another flow says nothing about these runs.
    elsewhere = spec("content", "block", {"phrases": ["confidential"]}, scope="flow", target="x")
    assert set(verdicts(policy_simulate(elsewhere, period=week())).values()) == {"allow"}
    scope = spec("tool_scope", "block", {"deny": ["upsert_record"]})
    assert verdicts(policy_simulate(scope, period=week())) == by_run(
        recorded, small="block", large="block", again="block", notes="allow"
    )
    limits = spec("limits", "block", {"max_steps": 1})
    # Every recorded run has one step: the limit is never reached.
    assert set(verdicts(policy_simulate(limits, period=week())).values()) == {"allow"}


@pytest.fixture
def designer() -> Client:
    token = token_issue(user=user_ensure(username="dee", role=Role.DESIGNER))
    return Client(HTTP_AUTHORIZATION=f"Bearer {token}")


def test_the_api_simulates_a_draft_policy_and_a_saved_one(
    recorded: dict[str, Run], designer: Client
) -> None:
    body = {
        "policy": {
            "name": "Big bookings",
            "kind": "approval",
            "verdict": "require_approval",
            "config": {"categories": ["write"], "when": "args.data.amount > 500"},
        },
        "since": (timezone.now() - timedelta(days=1)).isoformat(),
    }
    answer = designer.post(
        "/api/policies/simulate", json.dumps(body), content_type="application/json"
    )
    assert answer.status_code == 200, answer.content
    data = answer.json()
    assert data["summary"]["runs"] == 4
    assert data["summary"]["runs_by_verdict"]["require_approval"] == 1
    [gated] = [row for row in data["runs"] if row["verdict"] == "require_approval"]
    assert gated["run_id"] == str(recorded["large"].id)
    assert gated["url"] == f"/runs/{recorded['large'].id}/"
    assert gated["hits"][0]["label"] == "tool call upsert_record at book"

    Policy.objects.create(
        slug="no-writes", name="No writes", kind="tool_scope", verdict="block",
        config={"deny": ["upsert_record"]}, enabled=False,
    )  # fmt: skip
    saved = designer.post(
        "/api/policies/no-writes/simulate",
        json.dumps({"flow": "pay"}),
        content_type="application/json",
    )
    assert saved.status_code == 200, saved.content
    assert saved.json()["summary"]["runs_by_verdict"]["block"] == 3


def test_the_api_refuses_a_bad_policy_or_period_with_pointers(designer: Client) -> None:
    bad_policy = {
        "policy": {"name": "x", "kind": "rate_limit", "config": {"max": 1, "window": "soon"}}
    }
    refused = designer.post(
        "/api/policies/simulate", json.dumps(bad_policy), content_type="application/json"
    )
    assert refused.status_code == 422
    assert refused.json()["error"]["details"][0]["pointer"] == "/policy/config/window"
    now = timezone.now()
    backwards = {
        "policy": {"name": "x", "kind": "content", "config": {"phrases": ["a"]}},
        "since": now.isoformat(),
        "until": (now - timedelta(days=1)).isoformat(),
    }
    refused = designer.post(
        "/api/policies/simulate", json.dumps(backwards), content_type="application/json"
    )
    assert refused.status_code == 400
    assert refused.json()["error"]["details"] == [
        {"pointer": "/until", "message": "until must be after since"}
    ]
    too_long = {
        **backwards,
        "since": (now - timedelta(days=200)).isoformat(),
        "until": now.isoformat(),
    }
    refused = designer.post(
        "/api/policies/simulate", json.dumps(too_long), content_type="application/json"
    )
    assert refused.status_code == 400 and "92 days" in refused.json()["error"]["message"]


def mailer_flow() -> dict[str, Any]:
    agent = scripted(
        "mailer",
        {
            "tool_calls": [
                {
                    "name": "send_email",
                    "arguments": {"to": "{{ input.to }}", "subject": "Hi", "body": "Hello"},
                }
            ],
            "then": "sent",
        },
        tools=["send_email"],
    )
    return document(
        "mailer",
        [node("mail", "agent", agent="mailer", prompt="Write to {{ input.to }}")],
        [],
        agents=[agent],
        subject="{{ input.to }}",
    )


def test_an_agents_recorded_tool_calls_are_replayed_by_category_and_agent() -> None:
    first = start(mailer_flow(), {"to": "ada@example.com"})
    second = start(mailer_flow(), {"to": "ada@example.com"})
    other = start(mailer_flow(), {"to": "bob@example.com"})
    assert ToolCall.objects.count() == 3
    one_a_day = spec(
        "rate_limit", "block", {"categories": ["outbound_message"], "max": 1, "window": "24h"}
    )
    simulation = policy_simulate(one_a_day, period=week())
    assert verdicts(simulation) == {
        str(first.id): "allow",
        str(second.id): "block",
        str(other.id): "allow",
    }
    [blocked] = [r for r in simulation.runs if r.verdict == "block"]
    assert blocked.hits[0].label == "tool call send_email at mail"
    # Tool scopes see which agent made the call.
    deny = spec("tool_scope", "require_approval", {"agents": ["mailer"], "deny": ["send_*"]})
    assert set(verdicts(policy_simulate(deny, period=week())).values()) == {"require_approval"}
    others = spec("tool_scope", "block", {"agents": ["closer"], "deny": ["send_*"]})
    assert set(verdicts(policy_simulate(others, period=week())).values()) == {"allow"}
