"""MCP tools in the registry: ``mcp:<server-slug>/<tool>`` for every listed tool of an enabled
server (``agents.mcp.mcp_server_list_tools`` fills the rows).

The category is the server's, set by an admin; a tool's description is stored data from the
server, passed along as the tool's description and never used to decide anything. Calls of a
non-``read`` category go through the effect ledger, so a retried step replays the stored
answer instead of calling the server again.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from agents.ledger import effect_once
from agents.mcp import McpServerError, McpServerUnavailable, mcp_call
from agents.models import McpServer, McpTool
from agents.tools.base import Tool, ToolCall, ToolError, ToolTransientError

PREFIX = "mcp:"
EXCERPT_CHARS = 300


def mcp_tool_name(server_slug: str, tool: str) -> str:
    return f"{PREFIX}{server_slug}/{tool}"


def mcp_tools() -> list[Tool]:
    """Every tool of every enabled server, as registry entries."""
    rows = McpTool.objects.filter(server__enabled=True).select_related("server")
    return [_tool(row) for row in rows]


def mcp_tool_get(name: str) -> Tool | None:
    """The registry entry called ``name`` (``mcp:<server>/<tool>``), or ``None``."""
    slug, slash, tool = name.removeprefix(PREFIX).partition("/")
    if not name.startswith(PREFIX) or not slash:
        return None
    row = (
        McpTool.objects.filter(server__slug=slug, server__enabled=True, name=tool)
        .select_related("server")
        .first()
    )
    return _tool(row) if row else None


def _tool(row: McpTool) -> Tool:
    server = row.server
    name = mcp_tool_name(server.slug, row.name)
    schema = row.input_schema if isinstance(row.input_schema, dict) else {}
    return Tool(
        name=name,
        category=server.category,
        description=row.description,
        args_schema=schema or {"type": "object"},
        call=partial(_call, server_id=server.id, tool=row.name, name=name),
        side_effect=server.category != "read",
        tags=("mcp",),
    )


def _call(call: ToolCall, *, server_id: int, tool: str, name: str) -> dict[str, Any]:
    server = McpServer.objects.filter(id=server_id, enabled=True).first()
    if server is None:
        raise ToolError(f"{name}: the MCP server is disabled or gone")
    if server.category == "read":
        return {**_invoke(server, tool, call, name=name), "replayed": False}
    result, replayed = effect_once(
        key=call.idempotency_key,
        tool=name,
        category=server.category,
        subject=call.subject,
        args=call.args,
        act=lambda _effect: _invoke(server, tool, call, name=name),
    )
    return {**result, "replayed": replayed}


def _invoke(server: McpServer, tool: str, call: ToolCall, *, name: str) -> dict[str, Any]:
    try:
        result = mcp_call(server, tool, call.args, idempotency_key=call.idempotency_key)
    except McpServerUnavailable as exc:
        raise ToolTransientError(f"{name}: {exc}") from None
    except McpServerError as exc:
        raise ToolError(f"{name}: {exc}") from None
    if result.is_error:
        raise ToolError(f"{name} failed: {result.text[:EXCERPT_CHARS]}")
    return {"structured": result.structured, "text": result.text, "content": result.content}
