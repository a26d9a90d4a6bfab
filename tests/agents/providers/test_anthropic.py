"""The ``anthropic`` provider against a real Anthropic-protocol server on loopback, through the
SDK."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal
from email.utils import format_datetime

import pytest
from django.utils import timezone

from agents import runtime
from agents.models import Effect, ToolCall
from tests.agents.providers.conftest import connection_for, step_ref
from tests.support.fake_llm import (
    FakeLLM,
    Reply,
    anthropic_error,
    anthropic_text,
    anthropic_tool_use,
)
from tests.support.tools import calls

pytestmark = pytest.mark.django_db


def agent(server: FakeLLM, **extra):
    connection_for(server, timeout=extra.pop("timeout", 5.0))
    return {
        "provider": "anthropic",
        "model": "claude-test",
        "connection": "fake-anthropic",
        "instructions": "You are terse.",
        "max_tokens": 300,
        **extra,
    }


def test_a_plain_answer_comes_back_with_its_usage_and_cost(anthropic_server, invoke):
    anthropic_server.push(anthropic_text("Hi there", tokens_in=2000, tokens_out=1000))
    answer = invoke(agent(anthropic_server, price_in_per_1k="3", price_out_per_1k="15"), "Hello")
    assert answer.output == "Hi there"
    assert answer.model == "claude-test"
    assert (answer.tokens_in, answer.tokens_out) == (2000, 1000)
    assert answer.cost == Decimal("21")
    [request] = anthropic_server.requests
    assert request.path == "/v1/messages"
    assert request.body["model"] == "claude-test"
    assert request.body["max_tokens"] == 300
    assert request.body["system"] == "You are terse."
    assert request.body["messages"] == [{"role": "user", "content": "Hello"}]
    assert request.headers["authorization"] == "Bearer no-key"  # how this SDK sends a key


def test_json_output_is_asked_for_and_parsed(anthropic_server, invoke):
    schema = {"type": "object", "required": ["intent"]}
    anthropic_server.push(anthropic_text('{"intent": "refund"}'))
    answer = invoke(agent(anthropic_server, output="json", output_schema=schema))
    assert answer.output == {"intent": "refund"}
    assert "JSON Schema" in anthropic_server.requests[0].body["system"]


def test_json_mode_schema_uses_structured_outputs(anthropic_server, invoke):
    schema = {"type": "object", "required": ["intent"]}
    anthropic_server.push(anthropic_text('{"intent": "refund"}'))
    invoke(agent(anthropic_server, output="json", output_schema=schema, json_mode="schema"))
    assert anthropic_server.requests[0].body["output_config"] == {
        "format": {"type": "json_schema", "schema": schema}
    }


def test_tool_use_runs_and_its_result_goes_back_as_a_tool_result_block(anthropic_server, invoke):
    anthropic_server.push(
        anthropic_tool_use(("toolu_1", "counted_sleep", {"seconds": 0}), text="Let me check."),
        anthropic_text("All done", tokens_in=40, tokens_out=4),
    )
    step = step_ref()
    answer = invoke(agent(anthropic_server, tools=["counted_sleep"]), "Sleep", step)
    assert answer.output == "All done"
    assert (answer.tokens_in, answer.tokens_out) == (50, 9)
    first, second = anthropic_server.requests
    [advertised] = first.body["tools"]
    assert advertised["name"] == "counted_sleep"
    assert advertised["input_schema"] == {"type": "object"}
    assistant, results = second.body["messages"][-2:]
    assert assistant == {
        "role": "assistant",
        "content": [
            {"type": "text", "text": "Let me check."},
            {"type": "tool_use", "id": "toolu_1", "name": "counted_sleep", "input": {"seconds": 0}},
        ],
    }
    [block] = results["content"]
    assert results["role"] == "user"
    assert block["type"] == "tool_result"
    assert block["tool_use_id"] == "toolu_1"
    assert block["is_error"] is False
    assert json.loads(block["content"]) == {"call": 1}
    [record] = ToolCall.objects.all()
    assert (record.tool, record.result, record.turn) == ("counted_sleep", {"call": 1}, 0)
    assert calls(record.idempotency_key) == 1


def test_a_tool_use_cut_off_by_max_tokens_runs_no_tool(anthropic_server, invoke):
    anthropic_server.push(
        anthropic_tool_use(("toolu_1", "send_email", {"to": "a@"}), stop_reason="max_tokens")
    )
    with pytest.raises(runtime.AgentError, match="cut off at max_tokens") as caught:
        invoke(agent(anthropic_server, tools=["send_email"]))
    assert not isinstance(caught.value, runtime.AgentTransientError)
    assert not ToolCall.objects.exists()
    assert not Effect.objects.exists()


def test_tool_input_that_is_not_an_object_runs_no_tool(anthropic_server, invoke):
    anthropic_server.push(anthropic_tool_use(("toolu_1", "counted_sleep", '{"seconds": 0')))
    step = step_ref()
    with pytest.raises(runtime.AgentError, match="not a JSON object; no tool was run"):
        invoke(agent(anthropic_server, tools=["counted_sleep"]), "Sleep", step)
    assert not ToolCall.objects.exists()


def test_429_is_transient_and_carries_retry_after(anthropic_server, invoke):
    when = format_datetime(timezone.now() + timedelta(seconds=20), usegmt=True)
    anthropic_server.push(anthropic_error(429, "rate limited", headers={"retry-after": when}))
    with pytest.raises(runtime.AgentTransientError) as caught:
        invoke(agent(anthropic_server))
    assert caught.value.retry_after is not None
    assert 15 <= caught.value.retry_after <= 20
    assert len(anthropic_server.requests) == 1


@pytest.mark.parametrize("status", [500, 529])
def test_server_errors_and_overload_are_transient(anthropic_server, invoke, status):
    anthropic_server.push(anthropic_error(status, "overloaded"))
    with pytest.raises(runtime.AgentTransientError, match=f"HTTP {status}"):
        invoke(agent(anthropic_server))
    assert len(anthropic_server.requests) == 1


def test_a_timeout_is_transient(anthropic_server, invoke):
    anthropic_server.push(Reply(delay=2.0, body=anthropic_text("late").body))
    with pytest.raises(runtime.AgentTransientError, match="timed out"):
        invoke(agent(anthropic_server, timeout=0.3))


def test_a_bad_request_fails_for_good(anthropic_server, invoke):
    anthropic_server.push(anthropic_error(400, "max_tokens: must be at most 64000"))
    with pytest.raises(runtime.AgentError, match="HTTP 400: max_tokens") as caught:
        invoke(agent(anthropic_server, max_tokens=100_000))
    assert not isinstance(caught.value, runtime.AgentTransientError)
    assert len(anthropic_server.requests) == 1


def test_a_connection_of_another_kind_is_refused(openai_server, invoke):
    connection_for(openai_server)
    with pytest.raises(runtime.AgentError, match="is for openai, not anthropic"):
        invoke({"provider": "anthropic", "model": "claude-test", "connection": "fake-openai"})


def test_without_a_connection_or_a_key_it_says_what_is_missing(invoke, monkeypatch):
    for name in ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "http://127.0.0.1:9")
    with pytest.raises(runtime.AgentError, match="anthropic is not configured"):
        invoke({"provider": "anthropic", "model": "claude-test"})
