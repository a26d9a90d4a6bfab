"""Agent steps through the engine: real providers on a loopback server, tool calls recorded
against the step, effects once across retries, and model routing on the step's usage.

Steps are executed in this process with ``drive`` (the same runner code the Celery task calls).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal

import pytest
from pytest_django.fixtures import Settings

from agents import runtime
from agents.models import Effect, OutboxMessage, ProviderConnection, ToolCall
from flows.engine import runs
from flows.models import Run, Step
from tests.support.fake_llm import FakeLLM, openai_error, openai_text, openai_tool_calls
from tests.support.flows import document, drive, node, save, scripted
from tests.support.loopback_http import egress_configure

pytestmark = pytest.mark.django_db


@pytest.fixture
def llm(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeLLM]:
    with FakeLLM("openai") as server:
        # Provider calls follow the egress rules: open the loopback model server as a
        # deployment opens a local one.
        egress_configure(settings, monkeypatch, "127.0.0.1")
        ProviderConnection.objects.create(
            slug="fake-openai", kind="openai", base_url=server.url, timeout_seconds=5
        )
        yield server


def start(doc, data=None) -> Run:
    run, _ = runs.run_start(flow=save(doc), input=data or {})
    return run


def openai_agent(slug: str, **extra):
    return {
        "slug": slug,
        "provider": "openai",
        "model": "gpt-small",
        "connection": "fake-openai",
        "price_in_per_1k": "1",
        "price_out_per_1k": "2",
        **extra,
    }


def test_an_openai_agent_calls_a_tool_and_answers_in_a_flow(llm):
    llm.push(
        openai_tool_calls(
            ("call_1", "send_email", json.dumps({"to": "ada@example.com", "body": "Welcome"})),
            tokens_in=100,
            tokens_out=20,
        ),
        openai_text("Sent the welcome e-mail.", model="gpt-small", tokens_in=150, tokens_out=10),
    )
    doc = document(
        "welcome",
        [node("greet", "agent", agent="greeter", prompt="Welcome {{ input.email }}")],
        [],
        agents=[openai_agent("greeter", tools=["send_email"], instructions="Be kind.")],
        subject="{{ input.email }}",
    )
    run = drive(start(doc, {"email": "ada@example.com"}))
    assert run.status == "succeeded", run.error
    step = Step.objects.get(run=run)
    assert step.output == "Sent the welcome e-mail."
    assert (step.model, step.tokens_in, step.tokens_out) == ("gpt-small", 250, 30)
    assert step.cost == Decimal("0.31")
    assert run.cost == step.cost
    [call] = ToolCall.objects.all()
    assert (call.run_id, call.step_id, call.attempt, call.turn) == (run.id, step.id, 1, 0)
    assert call.tool == "send_email"
    assert call.category == "outbound_message"
    assert call.idempotency_key.startswith(step.idempotency_key + ":send_email:")
    assert call.result["to"] == "ada@example.com"
    message = OutboxMessage.objects.get()
    assert message.effect.subject == "ada@example.com"
    assert llm.requests[0].body["messages"][1] == {
        "role": "user",
        "content": "Welcome ada@example.com",
    }
    assert llm.requests[1].body["messages"][-1]["tool_call_id"] == "call_1"


def test_a_rate_limited_agent_step_waits_and_retries(llm):
    llm.push(openai_error(429, "slow down", headers={"Retry-After": "0"}), openai_text("ok"))
    doc = document(
        "limited",
        [node("ask", "agent", agent="asker", retry={"backoff_seconds": 0})],
        [],
        agents=[openai_agent("asker")],
    )
    run = drive(start(doc))
    assert run.status == "succeeded", run.error
    step = Step.objects.get(run=run)
    assert (step.output, step.attempt) == ("ok", 2)


def test_a_bad_request_fails_the_step_without_a_retry(llm):
    llm.push(openai_error(400, "unknown model gpt-small"))
    doc = document("bad", [node("ask", "agent", agent="asker")], [], agents=[openai_agent("asker")])
    run = drive(start(doc))
    assert run.status == "failed"
    step = Step.objects.get(run=run)
    assert (step.attempt, step.error_class) == (1, "domain")
    assert "HTTP 400: unknown model gpt-small" in step.error
    assert len(llm.requests) == 1


def test_malformed_tool_arguments_fail_the_step_and_send_nothing(llm):
    llm.push(openai_tool_calls(("call_1", "send_email", '{"to": "ada@example.com", "bo')))
    doc = document(
        "truncated",
        [node("mail", "agent", agent="mailer")],
        [],
        agents=[openai_agent("mailer", tools=["send_email"])],
    )
    run = drive(start(doc))
    assert run.status == "failed"
    step = Step.objects.get(run=run)
    assert step.error_class == "domain"
    assert "malformed JSON arguments for tool 'send_email'" in step.error
    assert not ToolCall.objects.exists()
    assert not Effect.objects.exists()
    assert not OutboxMessage.objects.exists()


def test_a_cascade_escalates_from_a_cheap_model_to_a_stronger_one(llm):
    llm.push(
        openai_text('{"reply": 42}', model="gpt-small", tokens_in=1000, tokens_out=100),
        openai_text('{"reply": "Forty-two"}', model="gpt-large", tokens_in=1000, tokens_out=100),
    )
    schema = {"type": "object", "required": ["reply"], "properties": {"reply": {"type": "string"}}}
    agent = openai_agent(
        "router",
        output="json",
        output_schema=schema,
        cascade=[{"model": "gpt-large", "price_in_per_1k": "10", "price_out_per_1k": "20"}],
    )
    doc = document("cascade", [node("answer", "agent", agent="router")], [], agents=[agent])
    run = drive(start(doc))
    assert run.status == "succeeded", run.error
    step = Step.objects.get(run=run)
    assert step.output == {"reply": "Forty-two"}
    assert step.model == "gpt-large"
    assert (step.tokens_in, step.tokens_out) == (2000, 200)
    cheap = Decimal("1") + Decimal("0.2")  # 1000 in at 1/1k, 100 out at 2/1k
    strong = Decimal("10") + Decimal("2")
    assert step.cost == cheap + strong
    assert run.cost == cheap + strong
    assert [request.body["model"] for request in llm.requests] == ["gpt-small", "gpt-large"]


def test_a_scripted_agent_emails_once_even_when_its_step_is_retried():
    """Attempt 1 sends the e-mail, then a flaky tool fails transiently; attempt 2 repeats the
    same calls: the e-mail comes from the ledger, the flaky tool succeeds, the agent answers."""
    email = {"to": "ada@example.com", "subject": "Hi", "body": "Hello {{ input.name }}"}
    agent = scripted(
        "mailer",
        {
            "tool_calls": [{"name": "send_email", "arguments": email}],
            "then": {
                "tool_calls": [{"name": "flaky", "arguments": {"failures": 1}}],
                "then": "sent message {{ tool_results[0].result.message_id }}",
            },
        },
        tools=["send_email", "flaky"],
    )
    doc = document(
        "mail-once",
        [node("mail", "agent", agent="mailer", retry={"backoff_seconds": 0})],
        [],
        agents=[agent],
        subject="{{ input.email }}",
    )
    run = drive(start(doc, {"name": "Ada", "email": "ada@example.com"}))
    assert run.status == "succeeded", run.error
    step = Step.objects.get(run=run)
    assert step.attempt == 2
    message = OutboxMessage.objects.get()
    assert message.body == "Hello Ada"
    assert step.output == f"sent message {message.id}"
    assert Effect.objects.filter(tool="send_email").count() == 1
    rows = list(
        ToolCall.objects.filter(step_id=step.id)
        .order_by("id")
        .values_list("attempt", "turn", "tool", "replayed", "error")
    )
    assert rows == [
        (1, 0, "send_email", False, ""),
        (1, 1, "flaky", False, "flaky failure 1"),
        (2, 0, "send_email", True, ""),
        (2, 1, "flaky", False, ""),
    ]
    keys = set(ToolCall.objects.filter(tool="send_email").values_list("idempotency_key", flat=True))
    rendered = {**email, "body": "Hello Ada"}
    assert keys == {runtime.tool_call_key(step.idempotency_key, "send_email", rendered)}
