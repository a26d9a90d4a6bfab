"""Running an agent: its stages (model routing), each a loop of model turns and tool calls.

``agent_invoke`` is the one entry point. For each stage of the agent (the agent itself, then
its ``cascade`` of fallbacks) it runs the tool loop: call the model; if it asked for tools, run
the allowed ones through ``agents.tools.tool_call`` (each recorded as a ``ToolCall`` row with an
idempotency key), hand the results back, and call the model again, at most ``max_turns`` model
calls. The stage's answer is then judged: not JSON or not matching ``output_schema``, a
``confidence`` below ``min_confidence``, or a false ``check`` escalates to the next stage. The
last stage's answer stands (unless it breaks its schema, which fails the step).

A stage whose *provider* fails a model call (``ModelCallError``) also hands over to the next
stage. Every provider failure does: HTTP 5xx, 408 and 429, timeouts and refused connections
(transient), and also 4xx answers such as a bad key or an unknown model, an unknown provider,
and a destination the egress rules refuse (final) — each says something about that stage's
provider, model or connection, not about the next stage's. What is not the provider's is not
handed over: a policy's block or park, a tool's failure, ``max_turns`` run out, instructions that
do not render; those are the step's at once. Each stage makes one attempt per model call: the
SDKs' own retries are off (``max_retries=0``) and there is no retry per stage, so a failing
primary costs one call before the backup answers. Only when the last stage fails does the step
fail, with the last stage's error and its class: a transient one is retried by the engine under
the node's ``retry`` policy (the retry runs the whole cascade again, from the first stage), a
final one fails the step. An earlier stage's answer that was escalated does not stand in for a
last stage that failed.

Failures are classified by class: ``AgentTransientError`` (429, 5xx, timeouts, a transient
tool failure) is worth retrying, after ``retry_after`` seconds if given; any other
``AgentError`` is final. Model calls happen outside any database transaction.

Usage is billed per stage: each entry of ``AgentAnswer.routing`` has the provider and model
that stage called, its tokens and its cost at that stage's prices (a failed stage: what its
earlier turns used, usually nothing). ``flows.roi.facts`` bills each entry to its own model.
An invocation that fails is billed the same way: the ``AgentError`` it raises carries the
entries of every stage tried, the failing one included (``AgentError.routing``), so what a
failed attempt spent (an escalated stage's answer, a tool loop's earlier turns) is not lost.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from agents.providers import ModelResponse
from agents.runtime.errors import (
    AgentError,
    AgentTransientError,
    ModelCallError,
    ModelCallTransientError,
    OutputRejected,
)
from agents.runtime.guard import (
    NO_GUARD,
    Guard,
    ModelTicket,
    PolicyBlocked,
    PolicyParked,
    ToolPass,
)
from agents.runtime.loop import StageRun, stage_run
from agents.runtime.routing import (
    agent_stages,
    answer_confidence,
    failed_entry,
    judge,
    routing_entry,
)
from agents.runtime.toolcalls import StepRef, tool_call_key


@dataclass
class AgentAnswer:
    """The accepted answer. ``model`` is the model that gave it; tokens and ``cost`` add up
    every stage tried; ``routing`` has one entry per stage tried, with that stage's own model,
    tokens and cost (see ``routing.routing_entry`` and ``routing.failed_entry``)."""

    output: Any
    model: str
    tokens_in: int
    tokens_out: int
    cost: Decimal
    routing: list[dict[str, Any]] = field(default_factory=list)
    tool_calls: int = 0


AGENT_FIELDS = (
    "slug", "name", "role", "instructions", "provider", "model", "connection", "temperature",
    "max_tokens", "output", "output_schema", "json_mode", "tools", "max_turns",
    "price_in_per_1k", "price_out_per_1k", "memory_scope", "script",
    "cascade", "confidence", "min_confidence", "check",
)  # fmt: skip


def to_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)


def price(spec: dict[str, Any], tokens_in: int, tokens_out: int) -> Decimal:
    """Cost in the workspace currency: tokens times the agent's price per 1k tokens."""
    price_in = Decimal(str(spec.get("price_in_per_1k") or 0))
    price_out = Decimal(str(spec.get("price_out_per_1k") or 0))
    cost = price_in * tokens_in / 1000 + price_out * tokens_out / 1000
    return cost.quantize(Decimal("0.000001"))


def agent_invoke(
    *,
    spec: dict[str, Any],
    prompt: str,
    variables: dict[str, Any],
    call_number: int,
    step: StepRef,
    guard: Guard = NO_GUARD,
) -> AgentAnswer:
    """Run the agent on ``prompt`` to an accepted answer (see the module docstring).

    Side effects: the tools it calls, and one ``ToolCall`` row per call. Repeating the same
    invocation for the same ``step.key`` (a retried attempt) replays side-effecting tools from
    the effect ledger instead of acting twice. May take many seconds.
    """
    routing: list[dict[str, Any]] = []
    try:
        return _stages_run(
            spec, prompt=prompt, variables=variables, call_number=call_number, step=step,
            guard=guard, routing=routing,
        )  # fmt: skip
    except AgentError as exc:
        exc.routing = list(routing)  # what the failed invocation used, billed all the same
        raise


def _stages_run(
    spec: dict[str, Any],
    *,
    prompt: str,
    variables: dict[str, Any],
    call_number: int,
    step: StepRef,
    guard: Guard,
    routing: list[dict[str, Any]],
) -> AgentAnswer:
    """The cascade: each stage tried appends its entry to ``routing`` (a stage that raised
    too, with what it used before the failure) before the answer is returned or the error
    raised."""
    system = _instructions(spec, variables)
    tokens_in = tokens_out = turns = calls = 0
    cost = Decimal("0")
    stages = agent_stages(spec)
    for index, stage in enumerate(stages):
        last = index == len(stages) - 1
        try:
            run = stage_run(
                stage, system=system, prompt=prompt, variables=variables,
                call_number=call_number, step=step, turn_base=turns, guard=guard,
            )  # fmt: skip
        except AgentError as exc:
            partial = exc.partial or StageRun(final=ModelResponse(text=""), model="")
            partial.model = partial.model or str(stage.get("model") or "")
            turns += partial.turns
            calls += partial.tool_calls
            tokens_in += partial.tokens_in
            tokens_out += partial.tokens_out
            stage_cost = price(stage, partial.tokens_in, partial.tokens_out)
            cost += stage_cost
            routing.append(failed_entry(index, stage, partial, stage_cost, exc))
            if last or not isinstance(exc, ModelCallError):
                raise
            continue  # the provider failed this stage: hand over to the next
        turns += run.turns
        calls += run.tool_calls
        tokens_in += run.tokens_in
        tokens_out += run.tokens_out
        stage_cost = price(stage, run.tokens_in, run.tokens_out)
        cost += stage_cost
        verdict = judge(spec, stage, run.final, variables)
        routing.append(routing_entry(index, stage, run, stage_cost, verdict, last=last))
        if verdict.problem is None or last:
            if verdict.rejected is not None:
                raise verdict.rejected
            confidence = verdict.confidence
            if confidence is None:
                confidence = answer_confidence(spec, verdict.output, variables)
            guard.output(verdict.output, confidence=confidence)
            return AgentAnswer(
                output=verdict.output,
                model=run.model,
                tokens_in=tokens_in,
                tokens_out=tokens_out,
                cost=cost,
                routing=routing,
                tool_calls=calls,
            )
    raise AssertionError("unreachable: the last stage always returns or raises")


def _instructions(spec: dict[str, Any], variables: dict[str, Any]) -> str:
    """The system prompt: the agent's instructions, then what it remembers about the subject
    (``variables["memory"]``, newest first) when there is anything."""
    from controlroom import expressions

    try:
        system = str(expressions.render_value(spec.get("instructions") or "", variables))
    except expressions.ExpressionError as exc:
        raise AgentError(f"agent instructions failed to render: {exc}") from exc
    remembered = variables.get("memory") or []
    if remembered:
        lines = [
            f"- {entry['created_at']}: {to_text(entry['content'])[:1000]}" for entry in remembered
        ]
        system += "\n\nWhat you remember about this subject (newest first):\n" + "\n".join(lines)
    return system


def agent_spec_from_model(agent: Any) -> dict[str, Any]:
    """The frozen, JSON-serialisable definition of an ``Agent`` row."""
    return {
        "slug": agent.slug,
        "name": agent.name,
        "role": agent.role,
        "instructions": agent.instructions,
        "provider": agent.provider,
        "model": agent.model,
        "connection": agent.connection.slug if agent.connection_id else "",
        "temperature": agent.temperature,
        "max_tokens": agent.max_tokens,
        "output": agent.output_mode,
        "output_schema": agent.output_schema,
        "json_mode": agent.json_mode,
        "tools": agent.tools,
        "max_turns": agent.max_turns,
        "price_in_per_1k": str(agent.price_in_per_1k),
        "price_out_per_1k": str(agent.price_out_per_1k),
        "memory_scope": agent.memory_scope,
        "script": agent.script,
        "cascade": agent.cascade,
        "confidence": agent.confidence,
        "min_confidence": agent.min_confidence,
        "check": agent.check_condition,
    }


__all__ = [
    "AGENT_FIELDS",
    "NO_GUARD",
    "AgentAnswer",
    "AgentError",
    "AgentTransientError",
    "Guard",
    "ModelCallError",
    "ModelCallTransientError",
    "ModelTicket",
    "OutputRejected",
    "PolicyBlocked",
    "PolicyParked",
    "StepRef",
    "ToolPass",
    "agent_invoke",
    "agent_spec_from_model",
    "agent_stages",
    "price",
    "to_text",
    "tool_call_key",
]
