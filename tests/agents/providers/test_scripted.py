"""The ``scripted`` provider: answers in order or by rule, and tool-call turns with ``then``."""

from __future__ import annotations

import pytest

from agents import runtime
from agents.models import ToolCall
from tests.agents.providers.conftest import step_ref

pytestmark = pytest.mark.django_db


def scripted(*responses, **extra):
    return {"provider": "scripted", "script": {"responses": list(responses)}, **extra}


def test_a_tool_turn_runs_its_calls_and_then_answers_with_their_results(invoke):
    spec = scripted(
        {
            "tool_calls": [{"name": "counted_sleep", "arguments": {"seconds": "{{ 0 }}"}}],
            "then": "slept; call number {{ tool_results[0].result.call }}",
        },
        tools=["counted_sleep"],
    )
    step = step_ref()
    answer = invoke(spec, "sleep", step)
    assert answer.output == "slept; call number 1"
    assert answer.tool_calls == 1
    [record] = ToolCall.objects.all()
    assert record.arguments == {"seconds": 0}  # a single {{ }} keeps its type
    assert record.idempotency_key == runtime.tool_call_key(
        step.key, "counted_sleep", {"seconds": 0}
    )


def test_tool_turns_chain_and_every_result_stays_visible(invoke):
    spec = scripted(
        {
            "tool_calls": [
                {"name": "counted_sleep", "arguments": {"seconds": 0, "n": 1}},
                {"name": "counted_sleep", "arguments": {"seconds": 0, "n": 2}},
            ],
            "then": {
                "tool_calls": [{"name": "counted_sleep", "arguments": {"seconds": 0, "n": 3}}],
                "then": {"seen": "{{ tool_results | map(attribute='arguments.n') | list }}"},
            },
        },
        tools=["counted_sleep"],
        output="json",
    )
    answer = invoke(spec)
    assert answer.output == {"seen": [1, 2, 3]}
    assert list(ToolCall.objects.values_list("turn", flat=True)) == [0, 0, 1]


def test_the_step_counter_picks_the_response_and_tool_turns_do_not_advance_it():
    spec = {
        "slug": "writer",
        "provider": "scripted",
        "tools": ["counted_sleep"],
        "script": {
            "responses": [
                {"tool_calls": [{"name": "counted_sleep", "arguments": {}}], "then": "draft 1"},
                "draft 2",
            ]
        },
    }
    outputs = [
        runtime.agent_invoke(
            spec=spec, prompt="", variables={}, call_number=number, step=step_ref()
        ).output
        for number in (0, 1, 2)
    ]
    assert outputs == ["draft 1", "draft 2", "draft 2"]


def test_a_tool_turn_without_then_is_a_clear_error(invoke):
    spec = scripted(
        {"tool_calls": [{"name": "counted_sleep", "arguments": {}}]}, tools=["counted_sleep"]
    )
    with pytest.raises(runtime.AgentError, match="has no answer after its tool calls"):
        invoke(spec)


def test_a_json_answer_that_looks_like_data_is_not_a_tool_turn(invoke):
    answer = invoke(scripted({"tool_calls": 3, "total": 4}, output="json"))
    assert answer.output == {"tool_calls": 3, "total": 4}
