"""``wait``: a delay. The due time is stored in PostgreSQL and fired by the scheduler.

``seconds`` is a number, or a template rendering to one (``{{ input.days_between * 86400 }}``)
so a flow can take its pace from its input; ``until`` is a template rendering to an ISO 8601
time. A due time already reached (``seconds`` 0, an ``until`` in the past) ends the wait at
once, inline, with the same output as a fired wait: nothing is parked for the scheduler.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from django.utils import timezone

from flows.engine.nodes.base import (
    ConfigProblem,
    DomainError,
    Done,
    NodeContext,
    NodeType,
    Wait,
)
from flows.engine.nodes.schema import object_schema

MAX_SECONDS = 31_536_000


class WaitNode(NodeType):
    type = "wait"
    title = "Wait"
    description = "Pause this branch for a number of seconds or until a time."
    wakes_at_due_time = True
    schema = object_schema(
        {
            "seconds": {
                "title": "Seconds",
                "description": "A number, or a template giving one (e.g. "
                "{{ input.days * 86400 }}). 0 goes on at once.",
                "oneOf": [
                    {"type": "number", "minimum": 0, "maximum": MAX_SECONDS},
                    {"type": "string", "format": "template", "minLength": 1},
                ],
            },
            "until": {
                "type": "string",
                "format": "template",
                "title": "Until",
                "description": "An ISO 8601 time, or a template giving one.",
            },
        }
    )

    def config_problems(self, config: dict[str, Any]) -> list[ConfigProblem]:
        if ("seconds" in config) == ("until" in config):
            return [([], "wait needs exactly one of seconds or until")]
        return []

    def run(self, ctx: NodeContext) -> Done | Wait:
        now = timezone.now()
        if "until" in ctx.config:
            raw = ctx.render(ctx.config["until"])
            try:
                due = datetime.fromisoformat(str(raw))
            except ValueError as exc:
                raise DomainError(f"wait until {raw!r} is not an ISO 8601 time") from exc
            if timezone.is_naive(due):
                due = timezone.make_aware(due, UTC)
        else:
            due = now + timedelta(seconds=_seconds(ctx))
        if due <= now:
            return Done(output={"waited_until": due.isoformat()})
        return Wait(due_at=due, input={"due_at": due.isoformat()})

    def resume(self, ctx: NodeContext, payload: dict[str, Any]) -> Done:
        return Done(output={"waited_until": ctx.step_input.get("due_at")})


def _seconds(ctx: NodeContext) -> float:
    """``seconds`` as configured, or rendered from its template: a number from 0 to
    ``MAX_SECONDS`` (a numeric string counts), else a ``DomainError`` saying what it was."""
    value = ctx.config.get("seconds", 0)
    if isinstance(value, str):
        value = ctx.render(value)
    try:
        seconds = float(value) if not isinstance(value, bool) else None
    except (TypeError, ValueError):
        seconds = None
    if seconds is None or not 0 <= seconds <= MAX_SECONDS:
        raise DomainError(
            f"wait seconds must be a number from 0 to {MAX_SECONDS}; "
            f"{ctx.config.get('seconds')!r} gave {value!r}"
        )
    return seconds


NODE = WaitNode()
