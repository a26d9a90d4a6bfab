"""The tool registry and the one entry point for calling a tool."""

from __future__ import annotations

import importlib
from typing import Any

import jsonschema
from django.conf import settings

from agents.tools import builtins, http, mcp
from agents.tools.base import Tool, ToolCall, ToolError, ToolTransientError

_FORMATS = jsonschema.FormatChecker()


def static_tools() -> dict[str, Tool]:
    """Built-ins, ``http`` and the settings' ``EXTRA_TOOL_MODULES``: no database needed."""
    tools = {tool.name: tool for tool in (*builtins.TOOLS, *http.TOOLS)}
    for module_path in settings.CONTROLROOM.get("EXTRA_TOOL_MODULES", []):
        for tool in importlib.import_module(module_path).TOOLS:
            tools[tool.name] = tool
    return tools


def registry() -> dict[str, Tool]:
    """Every tool by name: the static ones and ``mcp:<server>/<tool>`` of enabled servers.

    Reads the MCP tool rows, so it needs the database.
    """
    tools = static_tools()
    for tool in mcp.mcp_tools():
        tools[tool.name] = tool
    return tools


def tool_get(name: str) -> Tool:
    found = mcp.mcp_tool_get(name) if name.startswith(mcp.PREFIX) else static_tools().get(name)
    if found is None:
        raise ToolError(f"unknown tool {name!r}")
    return found


def tool_category(*, name: str, args: Any) -> str:
    """The category policies see for calling ``name`` with ``args`` (``http``: by method)."""
    tool = tool_get(name)
    return tool.category_for(args) if isinstance(args, dict) else tool.category


def tool_args_check(*, name: str, args: Any) -> Tool:
    """Validate ``args`` for tool ``name`` — its schema, then its own ``check_args`` — and
    return the tool. Raises ``ToolError`` (a domain error: the same arguments never pass).
    Callers run it before policies are asked, so a call that could never run is refused
    before it is parked for an approval; ``tool_call`` runs it again."""
    tool = tool_get(name)
    if not isinstance(args, dict):
        raise ToolError(f"tool {name!r} arguments must be an object")
    errors = sorted(
        jsonschema.Draft202012Validator(tool.args_schema, format_checker=_FORMATS).iter_errors(
            args
        ),
        key=lambda error: list(error.absolute_path),
    )
    if errors:
        where = "/".join(str(part) for part in errors[0].absolute_path) or "(arguments)"
        raise ToolError(f"tool {name!r} argument {where}: {errors[0].message}")
    if tool.check_args is not None:
        tool.check_args(args)
    return tool


def tool_call(*, name: str, args: Any, idempotency_key: str, subject: str) -> Any:
    """Validate ``args`` (``tool_args_check``) and call the tool with its idempotency key."""
    tool = tool_args_check(name=name, args=args)
    return tool.call(ToolCall(args=args, idempotency_key=idempotency_key, subject=subject))


__all__ = [
    "Tool",
    "ToolCall",
    "ToolError",
    "ToolTransientError",
    "registry",
    "static_tools",
    "tool_args_check",
    "tool_call",
    "tool_category",
    "tool_get",
]
