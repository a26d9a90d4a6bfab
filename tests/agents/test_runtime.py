"""The agent loop and model routing (``agents.runtime``), on the offline scripted model."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import pytest

from agents import runtime
from agents.models import Effect, OutboxMessage, ToolCall
from tests.support.tools import calls

pytestmark = pytest.mark.django_db


def step_ref(attempt: int = 1, key: str = "") -> runtime.StepRef:
    run_id = str(uuid.uuid4())
    return runtime.StepRef(
        run_id=run_id, step_id=7, attempt=attempt, key=key or f"{run_id}:agent:", subject="ada"
    )


def invoke(spec: dict[str, Any], step: runtime.StepRef | None = None) -> runtime.AgentAnswer:
    return runtime.agent_invoke(
        spec={"slug": "tester", "provider": "scripted", **spec},
        prompt="go",
        variables={"input": {"email": "ada@example.com"}},
        call_number=0,
        step=step or step_ref(),
    )


def script(*responses: Any) -> dict[str, Any]:
    return {"responses": list(responses)}


def tool_turn(name: str, arguments: dict[str, Any], then: Any) -> dict[str, Any]:
    return {"tool_calls": [{"name": name, "arguments": arguments}], "then": then}


# --- tools --------------------------------------------------------------------------------------


def test_a_tool_the_agent_may_not_use_is_not_run_and_the_model_is_told():
    email = {"to": "ada@example.com", "body": "hi"}
    spec = {
        "tools": ["counted_sleep"],
        "script": script(tool_turn("send_email", email, "{{ tool_results[0].error }}")),
    }
    answer = invoke(spec)
    assert answer.output == "tool 'send_email' is not allowed for this agent"
    [record] = ToolCall.objects.all()
    assert (record.tool, record.category, record.result) == ("send_email", "outbound_message", None)
    assert record.error == "tool 'send_email' is not allowed for this agent"
    assert not Effect.objects.exists()
    assert not OutboxMessage.objects.exists()


def test_a_refused_tool_call_is_recorded_and_the_model_gets_the_error():
    spec = {
        "tools": ["send_email"],
        "script": script(
            tool_turn("send_email", {"to": "not-an-address"}, "{{ tool_results[0].error }}")
        ),
    }
    answer = invoke(spec)
    assert "send_email" in answer.output
    [record] = ToolCall.objects.all()
    assert record.error == answer.output
    assert not Effect.objects.exists()


def test_the_loop_is_bounded_by_max_turns():
    chain: Any = "never reached"
    for number in range(5):
        chain = tool_turn("counted_sleep", {"seconds": 0, "n": number}, chain)
    with pytest.raises(runtime.AgentError, match="max_turns=3") as caught:
        invoke({"tools": ["counted_sleep"], "max_turns": 3, "script": script(chain)})
    assert not isinstance(caught.value, runtime.AgentTransientError)
    # Turns 0 and 1 ran their tools; turn 2 was the last model call and its calls did not run.
    assert list(ToolCall.objects.values_list("turn", flat=True)) == [0, 1]


def test_a_transient_tool_failure_is_transient_and_recorded():
    spec = {"tools": ["flaky"], "script": script(tool_turn("flaky", {"failures": 1}, "ok"))}
    step = step_ref()
    with pytest.raises(runtime.AgentTransientError, match="flaky failure 1") as caught:
        invoke(spec, step)
    assert caught.value.retry_after == 0
    assert ToolCall.objects.get().error == "flaky failure 1"
    # The same step, retried: the same key, so the tool sees its second call and succeeds.
    assert invoke(spec, step_ref(attempt=2, key=step.key)).output == "ok"
    assert calls(runtime.tool_call_key(step.key, "flaky", {"failures": 1})) == 2


def test_a_retried_step_replays_its_email_from_the_ledger():
    email = {"to": "ada@example.com", "subject": "Hello", "body": "Hi Ada"}
    spec = {"tools": ["send_email"], "script": script(tool_turn("send_email", email, "sent"))}
    first = step_ref()
    invoke(spec, first)
    invoke(spec, step_ref(attempt=2, key=first.key))
    assert OutboxMessage.objects.count() == 1
    effect = Effect.objects.get()
    assert effect.subject == "ada"
    assert effect.key == runtime.tool_call_key(first.key, "send_email", email)
    replayed = list(ToolCall.objects.order_by("attempt").values_list("attempt", "replayed"))
    assert replayed == [(1, False), (2, True)]


def test_tool_call_keys_are_stable_argument_sensitive_and_bounded():
    key = runtime.tool_call_key("run:node:", "send_email", {"b": 1, "a": [1, 2]})
    assert key == runtime.tool_call_key("run:node:", "send_email", {"a": [1, 2], "b": 1})
    assert key.startswith("run:node::send_email:")
    assert key != runtime.tool_call_key("run:node:", "send_email", {"b": 2, "a": [1, 2]})
    long_key = runtime.tool_call_key("r" * 290, "mcp:server/tool", {})
    assert len(long_key) <= 300
    assert long_key != runtime.tool_call_key("r" * 289 + "s", "mcp:server/tool", {})


# --- model routing ------------------------------------------------------------------------------

SCHEMA = {"type": "object", "required": ["answer"], "properties": {"answer": {"type": "string"}}}


def cascade_spec(cheap: Any, strong: Any, **rules: Any) -> dict[str, Any]:
    return {
        "model": "cheap-1",
        "output": "json",
        "output_schema": SCHEMA,
        "price_in_per_1k": "1",
        "price_out_per_1k": "1",
        "script": script(cheap),
        "cascade": [
            {
                "model": "strong-1",
                "price_in_per_1k": "10",
                "price_out_per_1k": "10",
                "script": script(strong),
            }
        ],
        **rules,
    }


def test_an_answer_that_fails_its_schema_escalates_to_the_next_stage():
    answer = invoke(cascade_spec({"wrong": 1}, {"answer": "42"}))
    assert answer.output == {"answer": "42"}
    assert answer.model == "strong-1"
    cheap, strong = answer.routing
    assert (cheap["model"], cheap["outcome"]) == ("cheap-1", "escalated")
    assert "does not match its output schema" in cheap["reason"]
    assert (strong["model"], strong["outcome"], strong["reason"]) == ("strong-1", "answered", None)
    assert answer.cost == Decimal(cheap["cost"]) + Decimal(strong["cost"])
    assert Decimal(strong["cost"]) > Decimal(cheap["cost"]) > 0
    assert answer.tokens_in == cheap["tokens_in"] + strong["tokens_in"]


def test_a_good_first_answer_does_not_escalate():
    answer = invoke(cascade_spec({"answer": "cheap and right"}, {"answer": "never asked"}))
    assert answer.model == "cheap-1"
    assert [stage["outcome"] for stage in answer.routing] == ["answered"]


def test_a_low_confidence_escalates():
    spec = cascade_spec(
        {"answer": "maybe", "score": 40},
        {"answer": "surely", "score": 95},
        confidence="output.score / 100",
        min_confidence=0.7,
    )
    answer = invoke(spec)
    assert answer.output["answer"] == "surely"
    cheap, strong = answer.routing
    assert cheap["confidence"] == 0.4
    assert cheap["reason"] == "confidence 0.4 is below 0.7"
    assert strong["confidence"] == 0.95


def test_a_missing_confidence_counts_as_too_low():
    spec = cascade_spec({"answer": "?"}, {"answer": "!", "confidence": 0.9}, min_confidence=0.5)
    answer = invoke(spec)
    assert answer.model == "strong-1"
    assert answer.routing[0]["reason"] == "confidence None is below 0.5"


def test_a_failed_check_escalates_and_the_last_answer_stands():
    spec = cascade_spec(
        {"answer": "no email"},
        {"answer": "still no email"},
        check="input.email in output.answer",
    )
    answer = invoke(spec)
    assert answer.output == {"answer": "still no email"}
    assert [stage["outcome"] for stage in answer.routing] == ["escalated", "accepted"]
    assert all("does not hold" in stage["reason"] for stage in answer.routing)


def test_a_last_stage_that_breaks_its_schema_fails_the_step():
    with pytest.raises(runtime.AgentError, match="does not match its output schema") as caught:
        invoke(cascade_spec({"wrong": 1}, {"still": "wrong"}))
    assert not isinstance(caught.value, runtime.AgentTransientError)


def test_a_stage_inherits_what_it_does_not_set():
    spec = {
        "provider": "openai",
        "model": "small",
        "connection": "local",
        "tools": ["send_email"],
        "temperature": 0.1,
        "cascade": [{"model": "large"}, {"provider": "anthropic", "model": "claude"}],
    }
    _, same_provider, other_provider = runtime.agent_stages(spec)
    assert same_provider["model"] == "large"
    assert same_provider["connection"] == "local"
    assert same_provider["tools"] == ["send_email"]
    assert same_provider["cascade"] == []
    assert other_provider["provider"] == "anthropic"
    assert "connection" not in other_provider
    assert other_provider["temperature"] == 0.1


def test_a_stage_whose_provider_fails_hands_over_to_the_next_stage():
    spec = {
        "provider": "no-such-provider",
        "model": "primary",
        "cascade": [{"provider": "scripted", "model": "backup", "script": script("from backup")}],
    }
    answer = invoke(spec)
    assert (answer.output, answer.model) == ("from backup", "backup")
    failed, answered = answer.routing
    assert (failed["model"], failed["outcome"], failed["error_class"]) == (
        "primary",
        "failed",
        "final",
    )
    assert "no-such-provider" in failed["reason"]
    assert (failed["tokens_in"], failed["tokens_out"], failed["cost"]) == (0, 0, "0.000000")
    assert answered["outcome"] == "answered"
    assert (answer.tokens_in, answer.tokens_out) == (answered["tokens_in"], answered["tokens_out"])


def test_a_policy_block_is_not_handed_over_to_the_next_stage():
    class Blocking(runtime.Guard):
        def __init__(self) -> None:
            self.calls: list[str] = []

        def model_call(self, request: Any, *, turns: int) -> runtime.ModelTicket:
            self.calls.append(str(request.agent.get("model")))
            raise runtime.PolicyBlocked("blocked by policy 'no-models'")

    guard = Blocking()
    with pytest.raises(runtime.PolicyBlocked):
        runtime.agent_invoke(
            spec={"slug": "tester", "provider": "scripted", **cascade_spec("a", "b")},
            prompt="go",
            variables={},
            call_number=0,
            step=step_ref(),
            guard=guard,
        )
    assert guard.calls == ["cheap-1"]
