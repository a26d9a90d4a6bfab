"""The provider contract: a provider turns one ``ModelRequest`` (a conversation so far, the
tools the agent may call) into one ``ModelResponse`` (text, or tool calls, and token usage).

A provider makes exactly one model call per ``complete`` and never retries: the engine does,
by the class of the error raised. ``ProviderTransientError`` (429, 5xx, timeout, connection
refused) is retried with backoff, after ``retry_after`` seconds at least when the provider
said so; any other ``ProviderError`` fails the step. Error messages never contain a key.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any, Literal, Protocol

from django.utils import timezone

from agents.egress import EgressTransient


class ProviderError(Exception):
    """The provider refused or answered something unusable: the step fails, nothing runs."""


class ProviderTransientError(ProviderError):
    """Rate limited, overloaded or timed out: worth retrying, after ``retry_after`` if given."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True)
class ToolSpec:
    """A tool as advertised to the model. ``name`` is the wire name (``[A-Za-z0-9_-]``)."""

    name: str
    description: str
    parameters: dict[str, Any]


@dataclass(frozen=True)
class ToolRequest:
    """One tool call the model asked for. ``arguments`` is already parsed JSON (an object)."""

    id: str
    name: str
    arguments: dict[str, Any]


@dataclass(frozen=True)
class ToolResult:
    """What a tool call gave back, as the model will read it (``content`` is JSON text)."""

    id: str
    name: str
    content: str
    is_error: bool = False


@dataclass(frozen=True)
class Message:
    """One conversation entry, provider-neutral: the user's prompt, an assistant turn (text
    and/or tool calls), or the results of the previous turn's tool calls."""

    role: Literal["user", "assistant", "tool"]
    text: str = ""
    tool_calls: tuple[ToolRequest, ...] = ()
    tool_results: tuple[ToolResult, ...] = ()


@dataclass
class ModelRequest:
    """One model call. ``agent`` is the spec of the stage being called (provider, model,
    connection, temperature, max_tokens, output, output_schema, json_mode, script...).

    ``messages`` starts with the user's ``prompt``; ``turn`` counts the model calls made
    before this one in the same stage; ``tool_results`` lists every tool call made so far in
    call order (``{"name", "arguments", "result", "error"}``), for the scripted provider.
    """

    agent: dict[str, Any]
    system: str
    prompt: str
    variables: dict[str, Any] = field(default_factory=dict)
    call_number: int = 0
    messages: list[Message] = field(default_factory=list)
    tools: list[ToolSpec] = field(default_factory=list)
    turn: int = 0
    tool_results: list[dict[str, Any]] = field(default_factory=list)

    def conversation(self) -> list[Message]:
        """The messages, or just the prompt when the caller gave none."""
        return self.messages or [Message(role="user", text=self.prompt)]

    @property
    def wants_json(self) -> bool:
        return bool(self.agent.get("output", "text") == "json")

    @property
    def json_mode(self) -> str:
        """How JSON output is asked for: ``schema`` (structured output with the agent's JSON
        Schema), ``object`` (JSON mode without a schema), ``prompt`` (an instruction only), or
        ``auto`` (the provider's best)."""
        return str(self.agent.get("json_mode") or "auto")


@dataclass
class ModelResponse:
    text: str
    data: Any = None
    model: str = ""
    tokens_in: int = 0
    tokens_out: int = 0
    tool_calls: list[ToolRequest] = field(default_factory=list)


class Provider(Protocol):
    name: str
    offline: bool

    def complete(self, request: ModelRequest) -> ModelResponse: ...


def json_instruction(request: ModelRequest) -> str:
    """The system-prompt addition that asks for JSON output ("" when text is wanted)."""
    if not request.wants_json:
        return ""
    schema = request.agent.get("output_schema")
    instruction = "Answer with one JSON object and nothing else."
    if schema:
        instruction += " It must match this JSON Schema: " + json.dumps(schema, sort_keys=True)
    return instruction


def system_prompt(request: ModelRequest) -> str:
    """The agent's instructions plus, when JSON is wanted, the JSON instruction."""
    return "\n\n".join(part for part in (request.system, json_instruction(request)) if part)


def retry_after_seconds(headers: Any) -> float | None:
    """Seconds to wait from ``Retry-After`` (seconds or an HTTP date) or ``retry-after-ms``;
    None when the headers say nothing usable."""
    if headers is None:
        return None
    millis = headers.get("retry-after-ms")
    if millis:
        try:
            return max(float(millis) / 1000, 0.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max((when - timezone.now()).total_seconds(), 0.0)


def status_error(*, provider: str, status: int, detail: str, headers: Any = None) -> ProviderError:
    """Classify an HTTP error answer: 408, 429 and 5xx are transient (429 with its
    ``Retry-After``); 401/403 say only that authentication failed (a server may echo part of
    the key); any other 4xx is final. ``detail`` must already be scrubbed of secrets."""
    if status in (401, 403):
        return ProviderError(f"{provider} refused the credentials (HTTP {status})")
    message = f"{provider} answered HTTP {status}" + (f": {detail}" if detail else "")
    if status == 429:
        return ProviderTransientError(message, retry_after=retry_after_seconds(headers))
    if status == 408 or status >= 500:
        return ProviderTransientError(message)
    return ProviderError(message)


def egress_error(provider: str, exc: Exception) -> ProviderError:
    """A refusal or failure from ``agents.egress`` on the way to ``provider``: a refused or
    malformed destination is final (``ProviderError``); a timeout or resolver hiccup
    (``EgressTransient``) is worth a retry."""
    message = f"{provider}: {exc}"
    if isinstance(exc, EgressTransient):
        return ProviderTransientError(message)
    return ProviderError(message)


def scrub(text: str, *secrets: str | None, limit: int = 500) -> str:
    """``text`` without any of ``secrets`` in it, cut to ``limit`` characters."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[redacted]")
    return text if len(text) <= limit else text[: limit - 1] + "…"
