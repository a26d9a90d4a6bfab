"""``tool``: call one tool with templated arguments. Queued; side effects are idempotent.

``args`` are checked twice. At design time (``flows.document._tool_problems`` with
``agents.tools.tool_args_problems``) against the tool's argument schema: unknown and missing
arguments and literal values are judged, templates are accepted for any type. When the step
runs, the rendered arguments are checked in full (``tools.tool_args_check``) before policies
are asked, so a call that could never run is never parked for an approval.
"""

from __future__ import annotations

from typing import Any

from agents import runtime, tools
from flows.engine.nodes.base import (
    DomainError,
    Done,
    NodeContext,
    NodeType,
    Requeue,
    TransientError,
    Wait,
    object_schema,
)


class ToolNode(NodeType):
    type = "tool"
    title = "Tool"
    description = "Call a tool (send an e-mail, update a record...) with templated arguments."
    queued = True
    default_max_attempts = 3
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


NODE = ToolNode()
