"""``openai``: chat completions through the official ``openai`` SDK, at any OpenAI-compatible
base URL (OpenAI, Azure-compatible gateways, Ollama, vLLM, LM Studio, llama.cpp, OpenRouter).

Tools are advertised as functions and their results go back as ``tool`` messages with the call's
``tool_call_id``. JSON output uses ``response_format``: ``json_schema`` (non-strict, so any JSON
Schema is accepted) when the agent has an output schema, ``json_object`` otherwise; the agent's
``json_mode`` can force ``object`` or ``prompt`` (instruction only) for servers that lack one.

The SDK's own retries are off (``max_retries=0``): the engine retries by error class. The SDK is
imported at the first call (it is slow to import and most processes never call it). It sends
through ``agents.providers.transport`` (the egress rules: loopback and private addresses only
when ``CONTROLROOM_EGRESS_ALLOW`` opens them); a refusal there is a ``ProviderError``.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, cast

from agents.egress import EgressError
from agents.providers.base import (
    Message,
    ModelRequest,
    ModelResponse,
    ProviderError,
    ProviderTransientError,
    ToolRequest,
    egress_error,
    scrub,
    status_error,
    system_prompt,
)
from agents.providers.endpoint import Endpoint, endpoint_resolve
from controlroom import jsondata

if TYPE_CHECKING:
    from openai.types.chat import ChatCompletion

OPENAI_HOST = "api.openai.com"


class OpenAIProvider:
    name = "openai"
    offline = False

    def complete(self, request: ModelRequest) -> ModelResponse:
        """One chat completion. Raises ``ProviderTransientError`` for 408/429/5xx, timeouts and
        connection failures, ``ProviderError`` for any other refusal and for tool calls whose
        arguments are not a JSON object (no tool runs then)."""
        endpoint = endpoint_resolve(request.agent, kind="openai")
        completion = _create(endpoint, _arguments(request))
        return _response(completion, request)


def _arguments(request: ModelRequest) -> dict[str, Any]:
    agent = request.agent
    arguments: dict[str, Any] = {
        "model": str(agent.get("model") or ""),
        "messages": _messages(request),
    }
    if agent.get("temperature") is not None:
        arguments["temperature"] = float(agent["temperature"])
    if agent.get("max_tokens"):
        arguments["max_tokens"] = int(agent["max_tokens"])
    if request.tools:
        arguments["tools"] = [
            {
                "type": "function",
                "function": {
                    "name": tool.name,
                    "description": tool.description,
                    "parameters": tool.parameters,
                },
            }
            for tool in request.tools
        ]
    response_format = _response_format(request)
    if response_format:
        arguments["response_format"] = response_format
    return arguments


def _response_format(request: ModelRequest) -> dict[str, Any] | None:
    if not request.wants_json or request.json_mode == "prompt":
        return None
    schema = request.agent.get("output_schema")
    if schema and request.json_mode in ("auto", "schema"):
        return {
            "type": "json_schema",
            "json_schema": {"name": "output", "schema": schema, "strict": False},
        }
    return {"type": "json_object"}


def _messages(request: ModelRequest) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    system = system_prompt(request)
    if system:
        messages.append({"role": "system", "content": system})
    for message in request.conversation():
        messages += _native(message)
    return messages


def _native(message: Message) -> list[dict[str, Any]]:
    if message.role == "user":
        return [{"role": "user", "content": message.text}]
    if message.role == "assistant":
        native: dict[str, Any] = {"role": "assistant", "content": message.text or None}
        if message.tool_calls:
            native["tool_calls"] = [
                {
                    "id": call.id,
                    "type": "function",
                    "function": {"name": call.name, "arguments": json.dumps(call.arguments)},
                }
                for call in message.tool_calls
            ]
        return [native]
    return [
        {"role": "tool", "tool_call_id": result.id, "content": result.content}
        for result in message.tool_results
    ]


def _create(endpoint: Endpoint, arguments: dict[str, Any]) -> ChatCompletion:
    import openai

    from agents.providers.transport import egress_client

    key = endpoint.sdk_key
    try:
        client = openai.OpenAI(
            api_key=key,
            base_url=endpoint.base_url,
            timeout=endpoint.timeout,
            max_retries=0,
            http_client=egress_client(base_url=endpoint.base_url, timeout=endpoint.timeout),
        )
    except openai.OpenAIError as exc:  # no key configured anywhere
        raise ProviderError(f"openai is not configured: {scrub(str(exc), key)}") from None
    try:
        with client:
            # The SDK types the answer per overload of ``stream``; without it, a ChatCompletion.
            return cast(
                "ChatCompletion",
                client.chat.completions.create(**_for_host(arguments, client.base_url.host)),
            )
    except EgressError as exc:
        raise egress_error("openai", exc) from None
    except openai.APIStatusError as exc:
        detail = scrub(_detail(exc.body) or exc.message, key)
        raise status_error(
            provider="openai", status=exc.status_code, detail=detail, headers=exc.response.headers
        ) from None
    except openai.APITimeoutError:
        raise ProviderTransientError(f"openai timed out after {endpoint.timeout:g}s") from None
    except openai.APIConnectionError as exc:
        if isinstance(exc.__cause__, EgressError):
            raise egress_error("openai", exc.__cause__) from None
        raise ProviderTransientError(f"openai could not be reached at {client.base_url}") from None
    except openai.OpenAIError as exc:
        raise ProviderError(f"openai call failed: {scrub(str(exc), key)}") from None


def _for_host(arguments: dict[str, Any], host: str) -> dict[str, Any]:
    """OpenAI itself takes ``max_completion_tokens`` (its reasoning models refuse
    ``max_tokens``); OpenAI-compatible servers widely know only ``max_tokens``."""
    if host != OPENAI_HOST or "max_tokens" not in arguments:
        return arguments
    adjusted = dict(arguments)
    adjusted["max_completion_tokens"] = adjusted.pop("max_tokens")
    return adjusted


def _detail(body: object) -> str:
    """The error message inside an error body (``{"error": {"message": ...}}``), if any."""
    if isinstance(body, dict):
        error = body.get("error", body)
        message = error.get("message") if isinstance(error, dict) else None
        if isinstance(message, str):
            return message
        if isinstance(error, str):
            return error
    return ""


def _response(completion: ChatCompletion, request: ModelRequest) -> ModelResponse:
    if not completion.choices:
        raise ProviderError("openai answered without any choice")
    choice = completion.choices[0]
    calls = [_tool_request(call) for call in choice.message.tool_calls or []]
    if calls and choice.finish_reason == "length":
        raise ProviderError(
            "openai's answer was cut off at max_tokens in the middle of a tool call; "
            "no tool was run"
        )
    usage = completion.usage
    return ModelResponse(
        text=choice.message.content or "",
        model=completion.model or str(request.agent.get("model") or ""),
        tokens_in=usage.prompt_tokens if usage else 0,
        tokens_out=usage.completion_tokens if usage else 0,
        tool_calls=calls,
    )


def _tool_request(call: Any) -> ToolRequest:
    function = getattr(call, "function", None)
    if function is None:
        raise ProviderError(f"openai asked for an unsupported tool call type {call.type!r}")
    raw = function.arguments or "{}"
    try:
        arguments = jsondata.json_parse(raw)
    except json.JSONDecodeError as exc:
        raise ProviderError(
            f"the model sent malformed JSON arguments for tool {function.name!r} "
            f"({exc.msg} at character {exc.pos} of {len(raw)}); no tool was run"
        ) from None
    except ValueError as exc:  # too deep, NaN or Infinity: JSON PostgreSQL could not store
        raise ProviderError(
            f"the model sent unusable JSON arguments for tool {function.name!r} ({exc}); "
            "no tool was run"
        ) from None
    if not isinstance(arguments, dict):
        raise ProviderError(
            f"the model sent arguments for tool {function.name!r} that are not a JSON object; "
            "no tool was run"
        )
    return ToolRequest(id=call.id, name=function.name, arguments=arguments)
