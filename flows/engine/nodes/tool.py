"""``tool``: call one tool with templated arguments. Queued; side effects are idempotent.

``args`` are checked twice. At design time (``tool_call_problems`` with
``agents.tools.tool_args_problems``) against the tool's argument schema: unknown and missing
arguments and literal values are judged, templates are accepted for any type. When the step
runs, the rendered arguments are checked in full (``tools.tool_args_check``) before policies
are asked, so a call that could never run is never parked for an approval.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from agents import runtime, tools
from flows.engine.nodes.base import (
    ConfigProblem,
    DomainError,
    Done,
    Known,
    NodeContext,
    NodeType,
    Requeue,
    TransientError,
    Wait,
)
from flows.engine.nodes.schema import object_schema


class ToolNode(NodeType):
    type = "tool"
    title = "Tool"
    description = "Call a tool (send an e-mail, update a record...) with templated arguments."
    queued = True
    default_max_attempts = 3
    # A policy may park its call for a person.
    waits_on_people = True
    is_action = True
    schema = object_schema(
        {
            "tool": {
                "type": "string",
                "minLength": 1,
                "title": "Tool",
                "description": "What to call (a built-in, http, or mcp:<server>/<tool>).",
            },
            "args": {
                "type": "object",
                "format": "template-object",
                "title": "Arguments",
                "description": "What the tool is given; any value may be a template.",
            },
        },
        required=["tool"],
    )

    def reference_problems(self, config: dict[str, Any], known: Known) -> list[ConfigProblem]:
        return tool_call_problems(config, known.tools)

    def tool_call(self, config: dict[str, Any]) -> tuple[str, Any] | None:
        return (str(config["tool"]), config.get("args") or {}) if config.get("tool") else None

    def run(self, ctx: NodeContext) -> Done | Wait:
        from flows.guardrails import gates

        args = ctx.render(ctx.config.get("args") or {})
        name = str(ctx.config["tool"])
        guard = gates.step_guard(ctx)
        try:
            # Arguments that could never run fail the step now, before a policy can park the
            # call for an approval of something undeliverable.
            tools.tool_args_check(name=name, args=args)
            if isinstance(args, dict):
                args = guard.tool_call(name=name, arguments=args, key=ctx.idempotency_key).arguments
            result = tools.tool_call(
                name=name,
                args=args,
                idempotency_key=ctx.idempotency_key,
                subject=ctx.subject,
                run_id=ctx.run_id,
                step_id=ctx.step_id or None,
            )
        except tools.ToolTransientError as exc:
            raise TransientError(str(exc), retry_after=exc.retry_after) from exc
        except tools.ToolError as exc:
            guard.tool_failed(key=ctx.idempotency_key)
            raise DomainError(str(exc)) from exc
        except runtime.PolicyParked as exc:
            return gates.parked(exc)
        except runtime.PolicyBlocked as exc:
            raise DomainError(str(exc)) from exc
        return Done(output=result)

    def resume(self, ctx: NodeContext, payload: dict[str, Any]) -> Done | Requeue:
        from flows.engine.nodes.agent import policy_resume

        return policy_resume(ctx, payload)


def tool_call_problems(
    config: dict[str, Any],
    known_tools: Collection[str] | Mapping[str, tools.Tool] | None,
    *,
    field: str = "args",
) -> list[ConfigProblem]:
    """A tool call's ``tool`` and its arguments (``field``: a tool node's ``args``, an approval
    node's ``arguments``), with paths inside the node's config.

    - With ``known_tools``, a tool node's tool not in it is a problem ("unknown tool"): an MCP
      tool is known once its server is enabled and refreshed, so a tool of a server not
      refreshed yet is reported, and the flow saves after a refresh. (An approval's tool is not
      required to be known; its arguments are checked when it is.)
    - ``args`` are checked against the tool's argument schema (``tools.tool_args_problems``:
      unknown and missing arguments, literals of the wrong type; templates are accepted), with
      the schemas of ``known_tools`` when it is the registry, else of the static tools (no
      database). An MCP tool's schema is the one stored at its last refresh; a server that
      published none accepts any object. A tool without a schema at hand (an MCP tool checked
      without the registry) has its arguments checked when the step runs.
    """
    name = config["tool"]
    if known_tools is not None and name not in known_tools:
        return [] if field != "args" else [(["tool"], f"unknown tool {name!r}")]
    registry = known_tools if isinstance(known_tools, Mapping) else tools.static_tools()
    tool = registry.get(name)
    if tool is None:
        return []
    return [
        ([field, *path], message)
        for path, message in tools.tool_args_problems(tool=tool, args=config.get(field) or {})
    ]


NODE = ToolNode()
