"""Model providers. A provider turns a ``ModelRequest`` into a ``ModelResponse``.

Add one by copying ``scripted.py`` (offline) or ``openai.py`` (an SDK behind a connection)
and registering it in ``PROVIDERS``.
"""

from __future__ import annotations

from agents.providers import anthropic, openai, scripted
from agents.providers.base import (
    Message,
    ModelRequest,
    ModelResponse,
    Provider,
    ProviderError,
    ProviderTransientError,
    ToolRequest,
    ToolResult,
    ToolSpec,
)

PROVIDERS: dict[str, Provider] = {
    "scripted": scripted.ScriptedProvider(),
    "openai": openai.OpenAIProvider(),
    "anthropic": anthropic.AnthropicProvider(),
}


def get(name: str) -> Provider:
    try:
        return PROVIDERS[name]
    except KeyError:
        raise ProviderError(
            f"provider {name!r} is not available (available: {', '.join(sorted(PROVIDERS))})"
        ) from None


__all__ = [
    "Message",
    "ModelRequest",
    "ModelResponse",
    "Provider",
    "ProviderError",
    "ProviderTransientError",
    "ToolRequest",
    "ToolResult",
    "ToolSpec",
    "get",
]
