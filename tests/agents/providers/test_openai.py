"""The ``openai`` provider against a real OpenAI-protocol server on loopback, through the SDK."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal
from email.utils import format_datetime

import pytest
from django.utils import timezone

from agents import runtime
from agents.models import Effect, ToolCall
from agents.secrets import secret_bind, secret_set
from tests.agents.providers.conftest import connection_for, step_ref
from tests.support.fake_llm import (
    FakeLLM,
    Reply,
    openai_error,
    openai_text,
    openai_tool_calls,
)
from tests.support.tools import calls

pytestmark = pytest.mark.django_db


def agent(server: FakeLLM, **extra):
    connection_for(server, timeout=extra.pop("timeout", 5.0))
    return {
        "provider": "openai",
        "model": "gpt-test",
        "connection": "fake-openai",
        "instructions": "You are terse.",
        "temperature": 0.3,
        "max_tokens": 200,
        **extra,
    }


def test_a_plain_answer_comes_back_with_its_usage_and_cost(openai_server, invoke):
    openai_server.push(
        openai_text("Hi there", model="gpt-test-0613", tokens_in=1200, tokens_out=300)
    )
    answer = invoke(agent(openai_server, price_in_per_1k="0.5", price_out_per_1k="2"), "Hello")
    assert answer.output == "Hi there"
    assert answer.model == "gpt-test-0613"
    assert (answer.tokens_in, answer.tokens_out) == (1200, 300)
    assert answer.cost == Decimal("0.6") + Decimal("0.6")
    [request] = openai_server.requests
    assert request.path == "/v1/chat/completions"
    assert request.body["model"] == "gpt-test"
    assert request.body["temperature"] == 0.3
    assert request.body["max_tokens"] == 200
    assert request.body["messages"] == [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "Hello"},
    ]
    assert "tools" not in request.body
    # A connection without a key never sends an environment key.
    assert request.headers["authorization"] == "Bearer no-key"


def test_json_output_asks_for_the_schema_and_is_validated(openai_server, invoke):
    schema = {"type": "object", "required": ["score"], "properties": {"score": {"type": "integer"}}}
    openai_server.push(openai_text('```json\n{"score": 80}\n```'))
    answer = invoke(agent(openai_server, output="json", output_schema=schema))
    assert answer.output == {"score": 80}
    body = openai_server.requests[0].body
    assert body["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "output", "schema": schema, "strict": False},
    }
    assert "JSON Schema" in body["messages"][0]["content"]


def test_json_output_without_a_schema_asks_for_a_json_object(openai_server, invoke):
    openai_server.push(openai_text('{"ok": true}'))
    answer = invoke(agent(openai_server, output="json"))
    assert answer.output == {"ok": True}
    assert openai_server.requests[0].body["response_format"] == {"type": "json_object"}


def test_a_tool_call_runs_and_its_result_goes_back_before_the_final_answer(openai_server, invoke):
    openai_server.push(
        openai_tool_calls(
            ("call_1", "counted_sleep", '{"seconds": 0}'), tokens_in=50, tokens_out=10
        ),
        openai_text("Done: slept", tokens_in=80, tokens_out=5),
    )
    step = step_ref()
    answer = invoke(agent(openai_server, tools=["counted_sleep"]), "Sleep a bit", step)
    assert answer.output == "Done: slept"
    assert (answer.tokens_in, answer.tokens_out, answer.tool_calls) == (130, 15, 1)
    first, second = openai_server.requests
    [advertised] = first.body["tools"]
    assert advertised["type"] == "function"
    assert advertised["function"]["name"] == "counted_sleep"
    assert advertised["function"]["parameters"] == {"type": "object"}
    assistant, tool_message = second.body["messages"][-2:]
    assert assistant["tool_calls"][0]["id"] == "call_1"
    assert json.loads(assistant["tool_calls"][0]["function"]["arguments"]) == {"seconds": 0}
    assert tool_message["role"] == "tool"
    assert tool_message["tool_call_id"] == "call_1"
    assert json.loads(tool_message["content"]) == {"call": 1}
    [record] = ToolCall.objects.all()
    assert record.tool == "counted_sleep"
    assert record.category == "read"
    assert record.arguments == {"seconds": 0}
    assert record.result == {"call": 1}
    assert record.error == ""
    assert str(record.run_id) == step.run_id
    assert (record.step_id, record.attempt, record.turn) == (1, 1, 0)
    assert record.idempotency_key == runtime.tool_call_key(
        step.key, "counted_sleep", {"seconds": 0}
    )
    assert calls(record.idempotency_key) == 1


@pytest.mark.parametrize("arguments", ['{"seconds": 0', '{"seconds": 0,}', "[1, 2]", "nope"])
def test_malformed_tool_call_arguments_fail_the_step_and_run_no_tool(
    openai_server, invoke, arguments
):
    openai_server.push(openai_tool_calls(("call_1", "counted_sleep", arguments)))
    step = step_ref()
    with pytest.raises(runtime.AgentError) as caught:
        invoke(agent(openai_server, tools=["counted_sleep"]), "Sleep", step)
    assert not isinstance(caught.value, runtime.AgentTransientError)
    assert "counted_sleep" in str(caught.value)
    assert "no tool was run" in str(caught.value)
    assert not ToolCall.objects.exists()
    assert calls(runtime.tool_call_key(step.key, "counted_sleep", {"seconds": 0})) == 0
    assert len(openai_server.requests) == 1


def test_a_tool_call_cut_off_by_max_tokens_runs_no_tool(openai_server, invoke):
    openai_server.push(
        openai_tool_calls(
            ("call_1", "send_email", '{"to": "a@example.com"}'), finish_reason="length"
        )
    )
    with pytest.raises(runtime.AgentError, match="cut off at max_tokens"):
        invoke(agent(openai_server, tools=["send_email"]))
    assert not ToolCall.objects.exists()
    assert not Effect.objects.exists()


def test_429_is_transient_and_carries_retry_after_in_seconds(openai_server, invoke):
    openai_server.push(openai_error(429, "slow down", headers={"Retry-After": "7"}))
    with pytest.raises(runtime.AgentTransientError) as caught:
        invoke(agent(openai_server))
    assert caught.value.retry_after == 7
    assert "429" in str(caught.value)
    assert len(openai_server.requests) == 1  # the SDK did not retry on its own


def test_429_retry_after_may_be_an_http_date(openai_server, invoke):
    when = format_datetime(timezone.now() + timedelta(seconds=30), usegmt=True)
    openai_server.push(openai_error(429, "slow down", headers={"Retry-After": when}))
    with pytest.raises(runtime.AgentTransientError) as caught:
        invoke(agent(openai_server))
    assert caught.value.retry_after is not None
    assert 25 <= caught.value.retry_after <= 30


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_errors_are_transient(openai_server, invoke, status):
    openai_server.push(openai_error(status, "upstream broke"))
    with pytest.raises(runtime.AgentTransientError, match=f"HTTP {status}"):
        invoke(agent(openai_server))
    assert len(openai_server.requests) == 1


def test_a_timeout_is_transient(openai_server, invoke):
    openai_server.push(Reply(delay=2.0, body=openai_text("too late").body))
    with pytest.raises(runtime.AgentTransientError, match=r"timed out after 0\.3s"):
        invoke(agent(openai_server, timeout=0.3))
    assert len(openai_server.requests) == 1


def test_a_refused_connection_is_transient(invoke):
    server = FakeLLM("openai")
    spec = agent(server)
    server.stop()  # closed without ever serving: its port refuses connections
    with pytest.raises(runtime.AgentTransientError, match="could not be reached"):
        invoke(spec)


@pytest.mark.parametrize("status", [400, 404, 422])
def test_other_client_errors_fail_for_good_with_the_servers_message(openai_server, invoke, status):
    openai_server.push(openai_error(status, "model 'gpt-test' does not exist"))
    with pytest.raises(runtime.AgentError) as caught:
        invoke(agent(openai_server))
    assert not isinstance(caught.value, runtime.AgentTransientError)
    assert f"HTTP {status}" in str(caught.value)
    assert "does not exist" in str(caught.value)
    assert len(openai_server.requests) == 1


def test_the_connection_key_is_sent_and_never_shown(openai_server, invoke):
    key = "sk-test-0123456789abcdefSECRET"
    secret = secret_set(name="openai-test-key", value=key)
    spec = agent(openai_server)
    openai_server.push(openai_error(400, f"bad request for key {key}"))
    openai_server.push(openai_error(401, f"Incorrect API key provided: {key}"))
    from agents.models import ProviderConnection

    ProviderConnection.objects.filter(slug="fake-openai").update(api_key=secret)
    secret_bind(name="openai-test-key", connections=["fake-openai"])
    for _ in range(2):
        with pytest.raises(runtime.AgentError) as caught:
            invoke(spec)
        assert key not in str(caught.value)
    assert openai_server.requests[0].headers["authorization"] == f"Bearer {key}"
    assert "refused the credentials (HTTP 401)" in str(caught.value)


def test_a_missing_connection_fails_for_good(invoke):
    with pytest.raises(runtime.AgentError, match="connection 'nowhere' does not exist"):
        invoke({"provider": "openai", "model": "gpt-test", "connection": "nowhere"})


def test_without_a_connection_the_sdk_environment_is_used(openai_server, invoke, monkeypatch):
    monkeypatch.setenv("OPENAI_BASE_URL", openai_server.url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-environment")
    openai_server.push(openai_text("from env"))
    answer = invoke({"provider": "openai", "model": "gpt-test"})
    assert answer.output == "from env"
    assert openai_server.requests[0].headers["authorization"] == "Bearer sk-from-environment"


def test_without_a_connection_or_a_key_it_says_what_is_missing(invoke, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(runtime.AgentError, match="openai is not configured"):
        invoke({"provider": "openai", "model": "gpt-test"})


def test_openai_itself_gets_max_completion_tokens_and_compatible_servers_max_tokens():
    from agents.providers.openai import _for_host

    arguments = {"model": "m", "max_tokens": 100}
    assert _for_host(arguments, "api.openai.com") == {"model": "m", "max_completion_tokens": 100}
    assert _for_host(arguments, "127.0.0.1") == arguments
