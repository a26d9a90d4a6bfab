"""Reads of the agents app, shaped for the pages and the API. Nothing here writes.

Secrets are read without their ciphertext: no page or endpoint ever has it in hand.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Q, QuerySet

from agents import tools
from agents.models import (
    Agent,
    KnowledgeBase,
    KnowledgeDocument,
    McpServer,
    OutboxMessage,
    ProviderConnection,
    Secret,
    ToolCall,
)

#: How a provider reads in the UI: the offline one says so.
PROVIDER_LABELS: dict[str, str] = {
    Agent.Provider.SCRIPTED: "offline (scripted)",
    Agent.Provider.OPENAI: "OpenAI-compatible",
    Agent.Provider.ANTHROPIC: "Anthropic",
}


def provider_label(provider: str) -> str:
    return PROVIDER_LABELS.get(provider, provider)


# --- agents ---------------------------------------------------------------------------------------


def agent_list(
    *, archived: bool | None = False, provider: str | None = None, query: str | None = None
) -> QuerySet[Agent]:
    """Agents, by slug. ``archived``: False (default) hides archived ones, True shows only
    them, None shows all. ``query`` matches slug, name or role."""
    agents = Agent.objects.select_related("connection").order_by("slug")
    if archived is not None:
        agents = agents.filter(archived=archived)
    if provider:
        agents = agents.filter(provider=provider)
    if query:
        agents = agents.filter(
            Q(slug__icontains=query) | Q(name__icontains=query) | Q(role__icontains=query)
        )
    return agents


def agent_get(*, slug: str) -> Agent | None:
    return Agent.objects.select_related("connection").filter(slug=slug).first()


def agent_dict(agent: Agent) -> dict[str, Any]:
    """An agent as the API shows it: the flow document's ``agents[]`` item, plus its state."""
    return {
        "slug": agent.slug,
        "name": agent.name,
        "role": agent.role,
        "instructions": agent.instructions,
        "provider": agent.provider,
        "provider_label": provider_label(agent.provider),
        "model": agent.model,
        "connection": agent.connection.slug if agent.connection else None,
        "temperature": agent.temperature,
        "max_tokens": agent.max_tokens,
        "output": agent.output_mode,
        "output_schema": agent.output_schema,
        "json_mode": getattr(agent, "json_mode", None),
        "tools": list(agent.tools or []),
        "price_in_per_1k": str(agent.price_in_per_1k),
        "price_out_per_1k": str(agent.price_out_per_1k),
        "memory_scope": agent.memory_scope,
        "max_turns": agent.max_turns,
        "cascade": list(agent.cascade or []),
        "confidence": getattr(agent, "confidence", ""),
        "min_confidence": getattr(agent, "min_confidence", None),
        "check": getattr(agent, "check_condition", ""),
        "script": agent.script or {},
        "archived": agent.archived,
        "created_at": agent.created_at.isoformat(),
        "updated_at": agent.updated_at.isoformat(),
    }


def tool_choices() -> list[dict[str, Any]]:
    """Every tool an agent may be allowed, by name, for the agent form."""
    return [
        {
            "name": tool.name,
            "category": tool.category,
            "description": tool.description,
            "mcp": "mcp" in tool.tags,
        }
        for tool in sorted(tools.registry().values(), key=lambda tool: tool.name)
    ]


# --- secrets and connections ----------------------------------------------------------------------


def secret_list() -> QuerySet[Secret]:
    """Secrets by name, without their ciphertext, with their connection bindings."""
    return (
        Secret.objects.defer("ciphertext").prefetch_related("bindings__connection").order_by("name")
    )


def secret_get(*, name: str) -> Secret | None:
    return secret_list().filter(name=name).first()


def secret_dict(secret: Secret) -> dict[str, Any]:
    """What anyone may know about a secret: never its value; where it may be sent."""
    return {
        "name": secret.name,
        "description": secret.description,
        "updated_at": secret.updated_at.isoformat(),
        "set": True,
        "allowed_hosts": list(secret.allowed_hosts or []),
        "connections": secret_connections(secret),
    }


def secret_connections(secret: Secret) -> list[dict[str, Any]]:
    """The connections ``secret`` is bound to, by slug; ``current`` False when the connection
    was re-pointed since (the key is not sent through it then)."""
    return sorted(
        (
            {"slug": binding.connection.slug, "current": binding.matches(binding.connection)}
            for binding in secret.bindings.all()
        ),
        key=lambda item: item["slug"],
    )


def connection_list() -> QuerySet[ProviderConnection]:
    return (
        ProviderConnection.objects.select_related("api_key")
        .defer("api_key__ciphertext")
        .annotate(agent_count=Count("agents"))
        .order_by("slug")
    )


def connection_get(*, slug: str) -> ProviderConnection | None:
    return (
        ProviderConnection.objects.select_related("api_key")
        .defer("api_key__ciphertext")
        .filter(slug=slug)
        .first()
    )


# --- MCP servers ----------------------------------------------------------------------------------


def mcp_server_list() -> QuerySet[McpServer]:
    return McpServer.objects.annotate(tool_count=Count("tools")).order_by("slug")


def mcp_server_get(*, slug: str) -> McpServer | None:
    return (
        McpServer.objects.select_related("headers_secret")
        .defer("headers_secret__ciphertext")
        .filter(slug=slug)
        .first()
    )


# --- outbox ---------------------------------------------------------------------------------------


def outbox_list(*, status: str | None = None) -> QuerySet[OutboxMessage]:
    messages = OutboxMessage.objects.all()
    if status:
        messages = messages.filter(status=status)
    return messages


def outbox_counts() -> dict[str, int]:
    rows = OutboxMessage.objects.values("status").annotate(n=Count("id")).order_by()
    return {row["status"]: row["n"] for row in rows}


# --- knowledge ------------------------------------------------------------------------------------


def knowledge_base_list() -> QuerySet[KnowledgeBase]:
    return KnowledgeBase.objects.annotate(document_count=Count("documents")).order_by("name")


def knowledge_base_get(*, slug: str) -> KnowledgeBase | None:
    return KnowledgeBase.objects.filter(slug=slug).first()


def knowledge_document_list(*, base: KnowledgeBase) -> QuerySet[KnowledgeDocument]:
    """A base's documents by title, without their bodies (a page lists hundreds)."""
    return base.documents.defer("body", "search").order_by("title", "id")


def tool_call_list(*, step_id: int) -> QuerySet[ToolCall]:
    """Every tool call one step made, in the order they happened."""
    return ToolCall.objects.filter(step_id=step_id).order_by("id")
