"""Tool calls inside the agent loop: which tools an agent may call (and under which wire
names), running one call with its idempotency key, and recording it as a ``ToolCall`` row."""

from __future__ import annotations

import hashlib
import json
import re
import time
from dataclasses import dataclass
from typing import Any

from agents import tools
from agents.models import ToolCall
from agents.providers import ToolRequest, ToolResult, ToolSpec
from agents.runtime.errors import AgentTransientError
from agents.runtime.guard import NO_GUARD, Guard, PolicyBlocked, PolicyParked

MAX_TOOL_RESULT_CHARS = 50_000
_WIRE_NAME = re.compile(r"[^A-Za-z0-9_-]")


@dataclass(frozen=True)
class StepRef:
    """Where an agent runs, for the ``ToolCall`` rows and the tools' idempotency keys. ``key``
    is the step's idempotency key: the same for every attempt and for a retry run's reuse."""

    run_id: str
    step_id: int
    attempt: int
    key: str
    subject: str = ""


def tool_call_key(step_key: str, tool: str, arguments: dict[str, Any]) -> str:
    """The idempotency key of one tool call: the step's key, the tool, and a digest of the
    canonical JSON of the arguments. A retried step repeating a call gets the same key (and
    the ledger's stored result); a different call gets another. At most 300 characters."""
    canonical = json.dumps(arguments, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    key = f"{step_key}:{tool}:{hashlib.sha256(canonical.encode()).hexdigest()[:16]}"
    if len(key) <= 300:
        return key
    return f"{key[:235]}:{hashlib.sha256(key.encode()).hexdigest()}"


@dataclass
class Toolbox:
    """The tools an agent may call. Providers only accept ``[A-Za-z0-9_-]{1,64}`` names, so
    each tool gets a wire name (``mcp:crm/find`` → ``mcp_crm_find``) mapped back on a call."""

    allowed: dict[str, tools.Tool | None]
    wire: dict[str, str]
    specs: list[ToolSpec]

    @classmethod
    def for_agent(cls, spec: dict[str, Any]) -> Toolbox:
        allowed: dict[str, tools.Tool | None] = {}
        wire: dict[str, str] = {}
        specs: list[ToolSpec] = []
        for name in spec.get("tools") or []:
            tool = _tool_or_none(str(name))
            allowed[str(name)] = tool
            if tool is None:  # no schema to advertise; a call to it gets an error result
                continue
            wire_name = _wire_name(str(name), taken=wire)
            wire[wire_name] = str(name)
            described = tool.describe()
            specs.append(
                ToolSpec(
                    name=wire_name,
                    description=str(described.get("description") or ""),
                    parameters=dict(described.get("args_schema") or {"type": "object"}),
                )
            )
        return cls(allowed=allowed, wire=wire, specs=specs)

    def resolve(self, called: str) -> str:
        """The tool name behind a name the model used (a wire name, or a real name)."""
        return self.wire.get(called, called)


def _tool_or_none(name: str) -> tools.Tool | None:
    try:
        return tools.tool_get(name)
    except tools.ToolError:
        return None


def _wire_name(name: str, *, taken: dict[str, str]) -> str:
    base = _WIRE_NAME.sub("_", name)[:60] or "tool"
    candidate, suffix = base, 2
    while candidate in taken:
        candidate, suffix = f"{base}_{suffix}", suffix + 1
    return candidate


def tool_run(
    call: ToolRequest,
    *,
    toolbox: Toolbox,
    step: StepRef,
    turn: int,
    history: list[dict[str, Any]],
    guard: Guard = NO_GUARD,
) -> ToolResult:
    """Run one tool call the model asked for, record it, and return what the model reads.

    A tool the agent may not use, or a refused call (bad arguments), is not run: the model gets
    an error result. A transient tool failure is recorded and raised as
    ``AgentTransientError`` (the retried step replays effects that already happened). The
    ``guard`` is asked first: a policy that blocks or parks the call raises (recorded with its
    verdict; nothing runs).
    """
    name = toolbox.resolve(call.name)
    key = tool_call_key(step.key, name, call.arguments)
    started = time.monotonic()
    result: Any = None
    error = ""
    try:
        if name not in toolbox.allowed:
            error = f"tool {name!r} is not allowed for this agent"
        else:
            # Refused before the guard: a call that could never run is not parked for approval.
            tools.tool_args_check(name=name, args=call.arguments)
            arguments = _guarded(guard, step, turn, name, call, key, started)
            result = _json_data(
                tools.tool_call(
                    name=name,
                    args=arguments,
                    idempotency_key=key,
                    subject=step.subject,
                    run_id=step.run_id,
                    step_id=step.step_id,
                )
            )
    except tools.ToolTransientError as exc:
        _record(step, turn, name, call, key, started, error=str(exc) or type(exc).__name__)
        raise AgentTransientError(
            f"tool {name!r} failed transiently: {exc}", retry_after=exc.retry_after
        ) from exc
    except tools.ToolError as exc:
        error = str(exc) or type(exc).__name__
        guard.tool_failed(key=key)
    except (PolicyBlocked, PolicyParked):
        raise  # recorded with its verdict by ``_guarded``
    except Exception as exc:
        _record(step, turn, name, call, key, started, error=f"{type(exc).__name__}: {exc}")
        raise
    _record(step, turn, name, call, key, started, result=result, error=error)
    history.append(
        {"name": name, "arguments": call.arguments, "result": result, "error": error or None}
    )
    content = json.dumps({"error": error} if error else result, ensure_ascii=False)
    if len(content) > MAX_TOOL_RESULT_CHARS:
        content = content[:MAX_TOOL_RESULT_CHARS] + " …(truncated)"
    return ToolResult(id=call.id, name=call.name, content=content, is_error=bool(error))


def _guarded(
    guard: Guard, step: StepRef, turn: int, name: str, call: ToolRequest, key: str, started: float
) -> dict[str, Any]:
    """The arguments to call with, once the guard let the call through."""
    try:
        return guard.tool_call(name=name, arguments=call.arguments, key=key).arguments
    except PolicyBlocked as exc:
        _record(step, turn, name, call, key, started, error=str(exc), verdict="block")
        raise
    except PolicyParked as exc:
        _record(step, turn, name, call, key, started, error=exc.reason, verdict="require_approval")
        raise


def _record(
    step: StepRef,
    turn: int,
    name: str,
    call: ToolRequest,
    key: str,
    started: float,
    *,
    result: Any = None,
    error: str = "",
    verdict: str = "",
) -> None:
    tool = _tool_or_none(name)
    ToolCall.objects.create(
        run_id=step.run_id,
        step_id=step.step_id,
        attempt=step.attempt,
        turn=turn,
        tool=name[:200],
        category=tool.category if tool else "",
        arguments=call.arguments,
        result=result,
        error=error,
        verdict=verdict,
        idempotency_key=key,
        replayed=isinstance(result, dict) and result.get("replayed") is True,
        duration_ms=int((time.monotonic() - started) * 1000),
    )


def _json_data(value: Any) -> Any:
    return json.loads(json.dumps(value, ensure_ascii=False, default=str))
