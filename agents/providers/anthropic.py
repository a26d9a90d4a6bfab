"""``anthropic``: the Messages API through the official ``anthropic`` SDK, with tool use.

The Messages API of this SDK (2.x) has no ``temperature``: the agent's is not sent. Tools
are advertised with their input schema; the model's ``tool_use`` blocks come back as
tool calls and their results go back as ``tool_result`` blocks in the next user message. JSON
output is asked for by instruction (``json_mode`` ``auto``/``prompt``/``object``), or with
structured outputs (``output_config.format``) when ``json_mode`` is ``schema``.

The SDK's own retries are off (``max_retries=0``): the engine retries by error class. The SDK is
imported at the first call (it is slow to import and most processes never call it). It sends
through ``agents.providers.transport`` (the egress rules: loopback and private addresses only
when ``CONTROLROOM_EGRESS_ALLOW`` opens them); a refusal there is a ``ProviderError``.
"""

from __future__ import annotations

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

if TYPE_CHECKING:
    from anthropic.types import Message as AnthropicMessage

DEFAULT_MAX_TOKENS = 1024


class AnthropicProvider:
    name = "anthropic"
    offline = False

    def complete(self, request: ModelRequest) -> ModelResponse:
        """One Messages API call. Raises ``ProviderTransientError`` for 408/429/5xx (529
        overloaded included), timeouts and connection failures, ``ProviderError`` for any other
        refusal and for a tool call cut off by ``max_tokens`` (no tool runs then)."""
        endpoint = endpoint_resolve(request.agent, kind="anthropic")
        message = _create(endpoint, _arguments(request))
        return _response(message, request)


def _arguments(request: ModelRequest) -> dict[str, Any]:
    agent = request.agent
    arguments: dict[str, Any] = {
        "model": str(agent.get("model") or ""),
        "max_tokens": int(agent.get("max_tokens") or DEFAULT_MAX_TOKENS),
        "messages": [_native(message) for message in request.conversation()],
    }
    system = system_prompt(request)
    if system:
        arguments["system"] = system
    if request.tools:
        arguments["tools"] = [
            {"name": tool.name, "description": tool.description, "input_schema": tool.parameters}
            for tool in request.tools
        ]
    schema = agent.get("output_schema")
    if request.wants_json and request.json_mode == "schema" and schema:
        arguments["output_config"] = {"format": {"type": "json_schema", "schema": schema}}
    return arguments


def _native(message: Message) -> dict[str, Any]:
    if message.role == "user":
        return {"role": "user", "content": message.text}
    if message.role == "assistant":
        blocks: list[dict[str, Any]] = []
        if message.text:
            blocks.append({"type": "text", "text": message.text})
        blocks += [
            {"type": "tool_use", "id": call.id, "name": call.name, "input": call.arguments}
            for call in message.tool_calls
        ]
        return {"role": "assistant", "content": blocks}
    return {
        "role": "user",
        "content": [
            {
                "type": "tool_result",
                "tool_use_id": result.id,
                "content": result.content,
                "is_error": result.is_error,
            }
            for result in message.tool_results
        ],
    }


def _create(endpoint: Endpoint, arguments: dict[str, Any]) -> AnthropicMessage:
    import anthropic

    from agents.providers.transport import egress_client

    key = endpoint.sdk_key
    client = anthropic.Anthropic(
        api_key=key,
        base_url=endpoint.base_url,
        timeout=endpoint.timeout,
        max_retries=0,
        http_client=egress_client(base_url=endpoint.base_url, timeout=endpoint.timeout),
    )
    try:
        with client:
            # The SDK types the answer per overload of ``stream``; without it, a Message.
            return cast("AnthropicMessage", client.messages.create(**arguments))
    except EgressError as exc:
        raise egress_error("anthropic", exc) from None
    except anthropic.APIStatusError as exc:
        detail = scrub(_detail(exc.body) or exc.message, key)
        raise status_error(
            provider="anthropic",
            status=exc.status_code,
            detail=detail,
            headers=exc.response.headers,
        ) from None
    except anthropic.APITimeoutError:
        raise ProviderTransientError(f"anthropic timed out after {endpoint.timeout:g}s") from None
    except anthropic.APIConnectionError as exc:
        if isinstance(exc.__cause__, EgressError):
            raise egress_error("anthropic", exc.__cause__) from None
        raise ProviderTransientError(
            f"anthropic could not be reached at {client.base_url}"
        ) from None
    except anthropic.AnthropicError as exc:
        raise ProviderError(f"anthropic call failed: {scrub(str(exc), key)}") from None
    except TypeError as exc:  # how this SDK says that no credentials were found anywhere
        if "authentication" not in str(exc):
            raise
        raise ProviderError(
            "anthropic is not configured: give the agent a connection or set ANTHROPIC_API_KEY"
        ) from None


def _detail(body: object) -> str:
    """The error message inside an error body (``{"error": {"message": ...}}``), if any."""
    if isinstance(body, dict):
        error = body.get("error", body)
        message = error.get("message") if isinstance(error, dict) else None
        if isinstance(message, str):
            return message
    return ""


def _response(message: AnthropicMessage, request: ModelRequest) -> ModelResponse:
    texts: list[str] = []
    calls: list[ToolRequest] = []
    for block in message.content:
        if block.type == "text":
            texts.append(block.text)
        elif block.type == "tool_use":
            calls.append(_tool_request(block))
    if calls and message.stop_reason == "max_tokens":
        raise ProviderError(
            "anthropic's answer was cut off at max_tokens in the middle of a tool call; "
            "no tool was run"
        )
    return ModelResponse(
        text="".join(texts),
        model=message.model or str(request.agent.get("model") or ""),
        tokens_in=message.usage.input_tokens if message.usage else 0,
        tokens_out=message.usage.output_tokens if message.usage else 0,
        tool_calls=calls,
    )


def _tool_request(block: Any) -> ToolRequest:
    if not isinstance(block.input, dict):
        raise ProviderError(
            f"the model sent arguments for tool {block.name!r} that are not a JSON object; "
            "no tool was run"
        )
    return ToolRequest(id=block.id, name=block.name, arguments=dict(block.input))
