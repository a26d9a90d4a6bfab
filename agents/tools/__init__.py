"""The tool registry and the one entry point for calling a tool."""

from __future__ import annotations

import difflib
import importlib
import json
from typing import Any

import jsonschema
from django.conf import settings

from agents.tools import builtins, http, mcp
from agents.tools.base import Tool, ToolCall, ToolError, ToolTransientError

_FORMATS = jsonschema.FormatChecker()
#: A problem with a tool's arguments: the path inside them and the message.
type _ArgProblem = tuple[list[str | int], str]


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


# Failures that depend only on which keys or how many items a value holds, never on what a
# template inside it renders to: reported even when the value holds templates.
_SHAPE_RULES = frozenset(
    {"required", "additionalProperties", "maxProperties", "minProperties", "dependentRequired"}
)
_JSON_TYPES = {
    str: "a string",
    bool: "a boolean",
    int: "an integer",
    float: "a number",
    dict: "an object",
    list: "an array",
    type(None): "null",
}


def is_template(value: Any) -> bool:
    """Whether ``value`` is a string the engine renders (``{{ … }}`` or ``{% … %}``), so its
    rendered value, and with a single ``{{ expr }}`` even its type, is unknown at design time."""
    return isinstance(value, str) and ("{{" in value or "{%" in value)


def _holds_template(value: Any) -> bool:
    if isinstance(value, dict):
        return any(_holds_template(item) for item in value.values())
    if isinstance(value, list):
        return any(_holds_template(item) for item in value)
    return is_template(value)


def _described(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return (
        _JSON_TYPES.get(type(value), "a value") + f" ({text[:60]}{'…' if len(text) > 60 else ''})"
    )


def _expected(schema_type: Any) -> str:
    names = schema_type if isinstance(schema_type, list) else [schema_type]
    words = {"number": "a number", "integer": "an integer", "object": "an object"}
    return " or ".join(words.get(str(n), f"a {n}" if n != "null" else "null") for n in names)


def tool_args_problems(*, tool: Tool, args: Any) -> list[_ArgProblem]:
    """Design-time check of a tool node's ``args`` (before rendering) against ``tool``'s
    argument schema, as ``(path inside args, message)`` ordered by path; ``[]`` when nothing is
    wrong yet.

    Reported, each with a message naming the tool and the argument:
    - an unknown argument (the schema closes its properties), with the closest known name
      (``difflib``) or else the list of the tool's arguments;
    - a missing required argument (the path names the missing key);
    - a literal value the schema refuses (a number where a string is required, an address that
      is not an e-mail, a value outside an enum...).

    A template (``is_template``) may stand for any value, so nothing that depends on what it
    renders to is judged: a template is accepted wherever a value goes, whatever the type, and a
    rule about a value that holds templates is skipped unless it depends only on the value's
    keys (``_SHAPE_RULES``). The tool's own ``check_args`` runs only when no argument is a
    template. What is skipped here is still checked by ``tool_args_check`` when the step runs.
    """
    if not isinstance(args, dict):
        return [([], f"{tool.name} arguments must be an object")]
    validator = jsonschema.Draft202012Validator(tool.args_schema, format_checker=_FORMATS)
    errors = sorted(validator.iter_errors(args), key=lambda e: list(map(str, e.path)))
    problems = [problem for error in errors for problem in _schema_problems(tool.name, error)]
    if not problems and tool.check_args is not None and not _holds_template(args):
        try:
            tool.check_args(args)
        except ToolError as exc:
            problems.append(([], str(exc)))
    # ``required`` is reported once per missing key, and each report names all of them.
    unique = list({(tuple(path), message): (path, message) for path, message in problems}.values())
    return sorted(unique, key=lambda problem: [str(part) for part in problem[0]])


def _schema_problems(tool: str, error: jsonschema.ValidationError) -> list[_ArgProblem]:
    """What ``error`` of tool ``tool``'s argument schema reports (see ``tool_args_problems``):
    one problem per unknown or missing argument, none for a value judged by a template, else
    one for the value."""
    path: list[str | int] = list(error.absolute_path)
    shown = "/".join(str(part) for part in path)
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        return _unknown_arguments(tool, error, path)
    if error.validator == "required" and isinstance(error.instance, dict):
        return [
            ([*path, key], f"{tool} needs the argument {_where(path, key)!r}: it is required")
            for key in error.validator_value
            if key not in error.instance
        ]
    if error.validator not in _SHAPE_RULES and _holds_template(error.instance):
        return []
    if error.validator == "type":
        return [
            (
                path,
                f"{tool} argument {shown or '(arguments)'!r} must be "
                f"{_expected(error.validator_value)}, not {_described(error.instance)}",
            )
        ]
    return [(path, f"{tool} argument {shown or '(arguments)'!r}: {error.message}")]


def _unknown_arguments(
    tool: str, error: jsonschema.ValidationError, path: list[str | int]
) -> list[_ArgProblem]:
    """One problem per key of ``error.instance`` (an object at ``path``) that its closed
    schema does not know, hinting at the closest known name or else at the known ones."""
    known = list(error.schema.get("properties") or {})
    problems: list[_ArgProblem] = []
    for key in error.instance:
        if key in known or not isinstance(key, str):
            continue
        close = difflib.get_close_matches(key, known, n=1)
        hint = (
            f"; did you mean {close[0]!r}?"
            if close
            else f" (its arguments: {', '.join(known)})"
            if known
            else " (it takes none)"
        )
        problems.append(([*path, key], f"{tool} has no argument {_where(path, key)!r}{hint}"))
    return problems


def _where(path: list[str | int], key: str) -> str:
    """How a message names argument ``key`` of the object at ``path`` inside the arguments."""
    return "/".join([*(str(part) for part in path), key])


def tool_call(
    *,
    name: str,
    args: Any,
    idempotency_key: str,
    subject: str,
    run_id: str = "",
    step_id: int | None = None,
) -> Any:
    """Validate ``args`` (``tool_args_check``) and call the tool with its idempotency key.
    ``run_id``/``step_id`` say which run and step call it (kept on what the tool records,
    such as an outbox message); empty when called outside a run."""
    tool = tool_args_check(name=name, args=args)
    return tool.call(
        ToolCall(
            args=args,
            idempotency_key=idempotency_key,
            subject=subject,
            run_id=run_id,
            step_id=step_id,
        )
    )


__all__ = [
    "Tool",
    "ToolCall",
    "ToolError",
    "ToolTransientError",
    "is_template",
    "registry",
    "static_tools",
    "tool_args_check",
    "tool_args_problems",
    "tool_call",
    "tool_category",
    "tool_get",
]
