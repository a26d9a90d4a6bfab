"""PII redaction of a model request before it leaves, and restoration of the answer.

Every text that leaves is redacted in one pass with one numbering (``[EMAIL_1]`` is the same
address in the system prompt, the prompt and a tool result): the instructions, the
conversation, tool results and the arguments of earlier tool calls. ``variables`` stay: they
never leave the process (the offline provider renders its script with them).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any

from agents.policies import PolicyLike, pii_redact, pii_restore
from agents.providers import ModelRequest, ModelResponse, ToolRequest


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _map(value: Any, fn: Callable[[str], str]) -> Any:
    if isinstance(value, str):
        return fn(value)
    if isinstance(value, dict):
        return {key: _map(item, fn) for key, item in value.items()}
    if isinstance(value, list):
        return [_map(item, fn) for item in value]
    return value


def _parts(request: ModelRequest) -> list[Any]:
    """What leaves, as one JSON-like structure (order fixes the placeholder numbering)."""
    return [
        request.system,
        request.prompt,
        [
            [
                message.text,
                [call.arguments for call in message.tool_calls],
                [result.content for result in message.tool_results],
            ]
            for message in request.messages
        ],
    ]


def request_texts(request: ModelRequest) -> list[str]:
    """Every string that leaves with ``request`` (what PII is looked for in)."""
    return list(_strings(_parts(request)))


def _rebuild(request: ModelRequest, parts: list[Any]) -> ModelRequest:
    system, prompt, messages = parts
    rebuilt = [
        replace(
            message,
            text=text,
            tool_calls=tuple(
                replace(call, arguments=arguments)
                for call, arguments in zip(message.tool_calls, calls, strict=True)
            ),
            tool_results=tuple(
                replace(result, content=content)
                for result, content in zip(message.tool_results, results, strict=True)
            ),
        )
        for message, (text, calls, results) in zip(request.messages, messages, strict=True)
    ]
    return replace(request, system=system, prompt=prompt, messages=rebuilt)


def _replacer(found: Iterator[str]) -> Callable[[str], str]:
    """Replaces each string, in walk order, with the next of ``found``."""

    def replace_next(_text: str) -> str:
        return next(found)

    return replace_next


@dataclass(frozen=True)
class Redacted:
    """A model request as it may leave: ``request`` (placeholders in), ``restore`` (the
    placeholders to put back in the answer: those of policies with ``restore``) and ``kept``
    (every placeholder → value any policy kept from leaving, for ``pii_mask`` of what the step
    stores)."""

    request: ModelRequest
    restore: dict[str, str]
    kept: dict[str, str]


def redact_request(request: ModelRequest, policies: list[PolicyLike]) -> Redacted:
    """``request`` with the PII every policy in ``policies`` finds replaced by placeholders."""
    if not policies:
        return Redacted(request=request, restore={}, kept={})
    parts: Any = _parts(request)
    restore: dict[str, str] = {}
    kept: dict[str, str] = {}
    for policy in policies:
        config = policy.config
        texts = list(_strings(parts))
        redacted, values = pii_redact(texts, config)
        parts = _map(parts, _replacer(iter(redacted)))
        kept.update(values)
        if config.get("restore"):
            restore.update(values)
    return Redacted(request=_rebuild(request, parts), restore=restore, kept=kept)


def restore_response(response: ModelResponse, values: dict[str, str]) -> ModelResponse:
    """The answer with the original values back in its text, data and tool-call arguments."""
    return replace(
        response,
        text=pii_restore(response.text, values),
        data=pii_restore(response.data, values),
        tool_calls=[
            ToolRequest(id=call.id, name=call.name, arguments=pii_restore(call.arguments, values))
            for call in response.tool_calls
        ],
    )
