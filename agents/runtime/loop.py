"""One stage of an agent: the loop of model turns and tool calls, bounded by ``max_turns``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from agents import providers
from agents.providers import (
    Message,
    ModelRequest,
    ModelResponse,
    ProviderError,
    ProviderTransientError,
)
from agents.runtime.errors import AgentError, ModelCallError, ModelCallTransientError
from agents.runtime.guard import NO_GUARD, Guard
from agents.runtime.toolcalls import StepRef, Toolbox, tool_run
from controlroom.observability import tracing

DEFAULT_MAX_TURNS = 6
MAX_TURNS_LIMIT = 50


@dataclass
class StageRun:
    """What one stage's loop used and gave: its final response and its totals."""

    final: ModelResponse
    model: str
    tokens_in: int = 0
    tokens_out: int = 0
    turns: int = 0
    tool_calls: int = 0

    def add(self, response: ModelResponse) -> None:
        self.final = response
        self.model = response.model or self.model
        self.tokens_in += response.tokens_in
        self.tokens_out += response.tokens_out
        self.turns += 1


def stage_run(
    stage: dict[str, Any],
    *,
    system: str,
    prompt: str,
    variables: dict[str, Any],
    call_number: int,
    step: StepRef,
    turn_base: int,
    guard: Guard = NO_GUARD,
) -> StageRun:
    """Run one stage's tool loop to its final answer.

    Raises ``ModelCallError`` (or ``ModelCallTransientError``) when the provider fails a model
    call, with ``partial`` set to what the stage's earlier turns used, so a cascade can bill
    them and hand over to its next stage; any other ``AgentError`` (tools, policies,
    ``max_turns``) is the step's, with ``partial`` set the same way (what it used is billed)."""
    run = StageRun(final=ModelResponse(text=""), model=str(stage.get("model") or ""))
    try:
        return _loop(
            stage, run, system=system, prompt=prompt, variables=variables,
            call_number=call_number, step=step, turn_base=turn_base, guard=guard,
        )  # fmt: skip
    except AgentError as exc:
        exc.partial = run
        raise


def _loop(
    stage: dict[str, Any],
    run: StageRun,
    *,
    system: str,
    prompt: str,
    variables: dict[str, Any],
    call_number: int,
    step: StepRef,
    turn_base: int,
    guard: Guard,
) -> StageRun:
    provider = _provider(stage)
    toolbox = Toolbox.for_agent(stage)
    max_turns = _max_turns(stage)
    messages = [Message(role="user", text=prompt)]
    history: list[dict[str, Any]] = []
    for turn in range(max_turns):
        request = ModelRequest(
            agent=stage, system=system, prompt=prompt, variables=variables,
            call_number=call_number, messages=list(messages), tools=toolbox.specs,
            turn=turn, tool_results=list(history),
        )  # fmt: skip
        response = _guarded_complete(provider, request, stage, guard, turns=turn_base + turn)
        run.add(response)
        if not response.tool_calls:
            return run
        if turn + 1 == max_turns:
            raise AgentError(
                f"agent {stage.get('slug')!r} was still calling tools after max_turns="
                f"{max_turns} model turns; raise max_turns or simplify its task"
            )
        results = [
            tool_run(
                call,
                toolbox=toolbox,
                step=step,
                turn=turn_base + turn,
                history=history,
                guard=guard,
            )
            for call in response.tool_calls
        ]
        run.tool_calls += len(results)
        messages.append(
            Message(role="assistant", text=response.text, tool_calls=tuple(response.tool_calls))
        )
        messages.append(Message(role="tool", tool_results=tuple(results)))
    raise AssertionError("unreachable: the loop returns or raises on its last turn")


def _provider(stage: dict[str, Any]) -> providers.Provider:
    try:
        return providers.get(str(stage.get("provider") or "scripted"))
    except ProviderError as exc:
        raise ModelCallError(str(exc)) from exc


def _max_turns(spec: dict[str, Any]) -> int:
    return max(1, min(int(spec.get("max_turns") or DEFAULT_MAX_TURNS), MAX_TURNS_LIMIT))


def _guarded_complete(
    provider: providers.Provider,
    request: ModelRequest,
    stage: dict[str, Any],
    guard: Guard,
    *,
    turns: int,
) -> ModelResponse:
    """One model call between the guard's checks: it may refuse, redact what leaves, and it
    reconciles its budget reservation with what the call used (nothing when it failed)."""
    ticket = guard.model_call(request, turns=turns)
    try:
        response = _complete(provider, ticket.request, stage)
    except BaseException:
        guard.model_done(ticket, None)
        raise
    done = guard.model_done(ticket, response)
    assert done is not None
    return done


def _complete(
    provider: providers.Provider, request: ModelRequest, stage: dict[str, Any]
) -> ModelResponse:
    where = f"agent {stage.get('slug')!r} ({stage.get('provider')}/{stage.get('model')})"
    try:
        with tracing.model_span(
            provider=str(stage.get("provider") or "scripted"),
            model=str(stage.get("model") or ""),
            agent=str(stage.get("slug") or ""),
        ) as call:  # a GenAI span when tracing is on
            response = provider.complete(request)
            call.usage(
                model=response.model,
                input_tokens=response.tokens_in,
                output_tokens=response.tokens_out,
            )
        return response
    except ProviderTransientError as exc:
        raise ModelCallTransientError(f"{where}: {exc}", retry_after=exc.retry_after) from exc
    except ProviderError as exc:
        raise ModelCallError(f"{where}: {exc}") from exc
