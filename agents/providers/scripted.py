"""``scripted``: the offline model. It answers from responses written in the agent definition.

``script`` in an agent::

    {"responses": ["first answer", {"score": 80}, ...],      # in order, the last one repeats
     "rules": [{"when": "input.tier == 'gold'", "response": "..."}],   # first match wins
     "latency_ms": 200}

Which response: the first rule whose ``when`` holds, else ``responses[n]`` where ``n`` counts
this agent's earlier successful steps in the run (so a writer in a loop gives its next draft),
the last one repeating. Responses are templates rendered against the run context
(``{{ input.name }}``), so answers can depend on the input.

Tool calls. A response of the form ::

    {"tool_calls": [{"name": "knowledge_search", "arguments": {"query": "{{ input.body }}"}}],
     "then": <response>}

is a turn in which the model asks for those tools (arguments are templates too). The tools run,
and the next model call of the same step answers with ``then`` — itself a plain answer or
another ``{"tool_calls": ..., "then": ...}``. So one response is one whole step, however many
turns it takes, and the step counter above is unchanged by tool turns. Templates in later turns
see ``tool_results``: every call made so far in this step, in order, as
``{"name", "arguments", "result", "error"}`` (``{{ tool_results[0].result.hits[0].title }}``,
``{{ tool_results[-1].error }}``). Rules are evaluated without ``tool_results``, so a step keeps
the chain it started on; branch on tool results with ``{% if %}`` inside ``then``.

Token counts are estimated as ~4 characters a token, as labelled.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

from agents.providers.base import ModelRequest, ModelResponse, ProviderError, ToolRequest

MAX_LATENCY_MS = 60_000
#: How a scripted answer's ``latency_ms`` passes: a real sleep, or (the demo seeder's simulated
#: clock, ``flows.demo.clock``) the clock moved on by that much without waiting.
LATENCY_WAIT: ContextVar[Callable[[float], None]] = ContextVar(
    "scripted_latency_wait", default=time.sleep
)
TOOL_TURN_KEYS = frozenset({"tool_calls", "then"})


def estimate_tokens(text: str) -> int:
    return max(1, (len(text) + 3) // 4)


def is_tool_turn(response: Any) -> bool:
    """A scripted response that asks for tools (``{"tool_calls": [...], "then": ...}``)."""
    return (
        isinstance(response, dict)
        and "tool_calls" in response
        and set(response) <= (TOOL_TURN_KEYS)
    )


class ScriptedProvider:
    name = "scripted"
    offline = True

    def complete(self, request: ModelRequest) -> ModelResponse:
        """The scripted response for this call. Raises ``ProviderError`` when the script has
        no response for it or a template fails to render."""
        from controlroom import expressions  # the one sandbox for user-written templates

        script = request.agent.get("script") or {}
        response = _at_turn(_choose(script, request, expressions.evaluate), request)
        tool_turn = is_tool_turn(response)
        variables = {**request.variables, "tool_results": request.tool_results}
        try:
            # A tool turn renders only its calls: ``then`` waits for their results.
            rendered = expressions.render_value(
                response["tool_calls"] if tool_turn else response, variables
            )
        except expressions.ExpressionError as exc:
            raise ProviderError(f"scripted response failed to render: {exc}") from exc
        latency = int(script.get("latency_ms", 0) or 0)
        if latency:
            LATENCY_WAIT.get()(min(latency, MAX_LATENCY_MS) / 1000)
        if tool_turn:
            return _tool_turn(rendered, request)
        text = rendered if isinstance(rendered, str) else json.dumps(rendered, ensure_ascii=False)
        return ModelResponse(
            text=text,
            data=None if isinstance(rendered, str) else rendered,
            model=_model(request),
            tokens_in=_tokens_in(request),
            tokens_out=estimate_tokens(text),
        )


def _choose(script: dict[str, Any], request: ModelRequest, evaluate: Any) -> Any:
    for rule in script.get("rules") or []:
        if evaluate(rule["when"], request.variables):
            return rule["response"]
    responses = script.get("responses") or []
    if not responses:
        raise ProviderError(
            f"scripted agent {request.agent.get('slug')!r} has no response for this call"
        )
    return responses[min(request.call_number, len(responses) - 1)]


def _at_turn(response: Any, request: ModelRequest) -> Any:
    """Follow ``then`` once per earlier turn of this step."""
    for _ in range(request.turn):
        if not is_tool_turn(response) or "then" not in response:
            raise ProviderError(
                f"scripted agent {request.agent.get('slug')!r} has no answer after its tool "
                "calls: give the response a 'then'"
            )
        response = response["then"]
    return response


def _tool_turn(calls: Any, request: ModelRequest) -> ModelResponse:
    if not isinstance(calls, list) or not calls:
        raise ProviderError("a scripted 'tool_calls' must be a non-empty list")
    requests = []
    for index, call in enumerate(calls):
        if not isinstance(call, dict) or not isinstance(call.get("name"), str):
            raise ProviderError(f"scripted tool call {index} needs a 'name'")
        arguments = call.get("arguments", {})
        if not isinstance(arguments, dict):
            raise ProviderError(f"scripted tool call {index} 'arguments' must be an object")
        requests.append(
            ToolRequest(id=f"call_{request.turn}_{index}", name=call["name"], arguments=arguments)
        )
    text = json.dumps(calls, ensure_ascii=False)
    return ModelResponse(
        text="",
        model=_model(request),
        tokens_in=_tokens_in(request),
        tokens_out=estimate_tokens(text),
        tool_calls=requests,
    )


def _model(request: ModelRequest) -> str:
    return str(request.agent.get("model") or "scripted-1")


def _tokens_in(request: ModelRequest) -> int:
    seen = json.dumps(request.tool_results, ensure_ascii=False) if request.tool_results else ""
    return (
        estimate_tokens(request.system)
        + estimate_tokens(request.prompt)
        + (estimate_tokens(seen) if seen else 0)
    )
