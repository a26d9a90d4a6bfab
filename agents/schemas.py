"""API contracts of the agents app. An agent has the shape of a flow document's ``agents[]``
item (``output``, ``check``), so one can be copied between a document and the API."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from ninja import Schema
from pydantic import ConfigDict, Field

#: API field → ``Agent`` model field, where the names differ.
API_TO_MODEL = {"output": "output_mode", "check": "check_condition"}
MODEL_TO_API = {model: api for api, model in API_TO_MODEL.items()}


class _AgentFields(Schema):
    """Every writable field; unset ones are left alone (create: the defaults)."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, max_length=120)
    role: str | None = Field(default=None, max_length=200)
    instructions: str | None = Field(
        default=None, max_length=50_000, description="A sandboxed template (checked on save)"
    )
    provider: str | None = Field(default=None, description="scripted | openai | anthropic")
    model: str | None = Field(default=None, max_length=120)
    connection: str | None = Field(
        default=None, description="Slug of a provider connection; null for none"
    )
    temperature: float | None = None
    max_tokens: int | None = None
    output: str | None = Field(default=None, description="text | json")
    output_schema: dict[str, Any] | None = Field(
        default=None, description="JSON Schema the answer must meet (JSON output only)"
    )
    json_mode: str | None = Field(default=None, description="auto | schema | object | prompt")
    tools: list[str] | None = Field(default=None, max_length=100)
    price_in_per_1k: Decimal | None = None
    price_out_per_1k: Decimal | None = None
    memory_scope: str | None = Field(default=None, max_length=200)
    max_turns: int | None = None
    cascade: list[dict[str, Any]] | None = None
    confidence: str | None = Field(default=None, max_length=500)
    min_confidence: float | None = None
    check: str | None = Field(default=None, max_length=2000)
    script: dict[str, Any] | None = Field(
        default=None, description="For the offline (scripted) provider: responses, rules"
    )

    def model_values(self) -> dict[str, Any]:
        """The fields the caller sent, under the model's names."""
        sent = self.model_dump(exclude_unset=True)
        return {API_TO_MODEL.get(name, name): value for name, value in sent.items()}


class AgentIn(_AgentFields):
    slug: str = Field(max_length=80, description="Lower-case letters, digits and '-'")

    def model_values(self) -> dict[str, Any]:
        return {**super().model_values(), "slug": self.slug}


class AgentPatch(_AgentFields):
    pass


class AgentOut(Schema):
    slug: str
    name: str
    role: str
    instructions: str
    provider: str
    provider_label: str
    model: str
    connection: str | None
    temperature: float
    max_tokens: int
    output: str
    output_schema: dict[str, Any] | None
    json_mode: str | None
    tools: list[str]
    price_in_per_1k: str
    price_out_per_1k: str
    memory_scope: str
    max_turns: int
    cascade: list[dict[str, Any]]
    confidence: str
    min_confidence: float | None
    check: str
    script: dict[str, Any]
    archived: bool
    created_at: str
    updated_at: str


class AgentListOut(Schema):
    items: list[AgentOut]
    next_cursor: str | None


class ToolOut(Schema):
    name: str
    category: str
    description: str
    side_effect: bool
    args_schema: dict[str, Any]


class ToolListOut(Schema):
    items: list[ToolOut]
    next_cursor: str | None = None


_ALLOWED_HOSTS = (
    "Host patterns the secret may be sent to (http tool, provider connections): "
    "`api.example.com`, `*.example.com`, an address, each optionally with `:port`. "
    "Admins only; omitted keeps the current list, [] empties it."
)
_CONNECTIONS = (
    "Slugs of provider connections the secret may be sent through, each pinned to the "
    "connection's current kind and base URL. Admins only; omitted keeps them, [] removes all."
)


class SecretIn(Schema):
    model_config = ConfigDict(extra="forbid")

    value: str = Field(min_length=1, max_length=64_000, description="Write-only")
    description: str = Field(default="", max_length=200)
    allowed_hosts: list[str] | None = Field(default=None, max_length=50, description=_ALLOWED_HOSTS)
    connections: list[str] | None = Field(default=None, max_length=100, description=_CONNECTIONS)


class SecretPatch(Schema):
    """Change where a secret may go (or its description) without touching its value."""

    model_config = ConfigDict(extra="forbid")

    description: str | None = Field(default=None, max_length=200)
    allowed_hosts: list[str] | None = Field(default=None, max_length=50, description=_ALLOWED_HOSTS)
    connections: list[str] | None = Field(default=None, max_length=100, description=_CONNECTIONS)


class SecretConnectionOut(Schema):
    slug: str
    current: bool = Field(
        description="false once the connection's kind or base URL changed since it was bound: "
        "the key is not sent through it until an admin binds it again"
    )


class SecretOut(Schema):
    name: str
    description: str
    updated_at: str
    set: bool = True
    allowed_hosts: list[str] = []
    connections: list[SecretConnectionOut] = []


class SecretListOut(Schema):
    items: list[SecretOut]
    next_cursor: str | None = None


# --- configuration: provider connections, MCP servers, knowledge bases --------------------------

#: What the configuration pages accept as a slug (Django's ``SlugField``) and a base's slug.
CONFIG_SLUG = r"^[-a-zA-Z0-9_]+$"
KNOWLEDGE_SLUG = r"^[a-z0-9][a-z0-9-]*$"


class _ConnectionFields(Schema):
    model_config = ConfigDict(extra="forbid")

    kind: str
    base_url: str = Field(default="", max_length=500)
    api_key: str | None = Field(default=None, max_length=100, description="a secret's name")
    timeout_seconds: float = 60.0


class ConnectionIn(_ConnectionFields):
    slug: str = Field(max_length=80, pattern=CONFIG_SLUG)


class ConnectionPut(_ConnectionFields):
    """Every field but the slug (agents refer to it); unset ones take their defaults."""


class ConnectionOut(Schema):
    slug: str
    kind: str
    base_url: str
    api_key: str | None = Field(description="the key secret's name (never its value)")
    timeout_seconds: float
    agent_count: int
    created_at: str
    updated_at: str


class ConnectionListOut(Schema):
    items: list[ConnectionOut]
    next_cursor: str | None


class _McpServerFields(Schema):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(max_length=200)
    transport: str
    command: str = Field(default="", max_length=500)
    args: list[str] = Field(default_factory=list)
    url: str = Field(default="", max_length=500)
    category: str = "read"
    headers_secret: str | None = Field(default=None, max_length=100)
    enabled: bool = True


class McpServerIn(_McpServerFields):
    slug: str = Field(max_length=80, pattern=CONFIG_SLUG)


class McpServerPut(_McpServerFields):
    """Every field but the slug (tools are named ``mcp:<slug>/<tool>``)."""


class McpServerOut(Schema):
    slug: str
    name: str
    transport: str
    command: str
    args: list[str]
    url: str
    category: str
    headers_secret: str | None = Field(description="the credential secret's name, never a value")
    enabled: bool
    tool_count: int
    last_listed_at: str | None
    last_error: str
    created_at: str


class McpServerListOut(Schema):
    items: list[McpServerOut]
    next_cursor: str | None


class McpToolOut(Schema):
    name: str = Field(description="the registry name, mcp:<server>/<tool>")
    tool: str
    description: str
    category: str
    input_schema: dict[str, Any]
    listed_at: str


class McpToolListOut(Schema):
    items: list[McpToolOut]
    next_cursor: str | None


class KnowledgeBaseIn(Schema):
    model_config = ConfigDict(extra="forbid")

    slug: str = Field(max_length=80, pattern=KNOWLEDGE_SLUG)
    name: str = Field(min_length=1, max_length=200)


class KnowledgeBaseOut(Schema):
    slug: str
    name: str
    description: str
    document_count: int
    created_at: str


class KnowledgeBaseListOut(Schema):
    items: list[KnowledgeBaseOut]
    next_cursor: str | None


class KnowledgeDocumentOut(Schema):
    id: int
    title: str
    source: str
    created_at: str
    updated_at: str


class KnowledgeDocumentListOut(Schema):
    items: list[KnowledgeDocumentOut]
    next_cursor: str | None
