"""``wait``: a delay. The due time is stored in PostgreSQL and fired by the scheduler."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from django.utils import timezone

from flows.engine.nodes.base import DomainError, Done, NodeContext, NodeType, Wait, object_schema


class WaitNode(NodeType):
    type = "wait"
    title = "Wait"
    description = "Pause this branch for a number of seconds or until a time."
    schema = object_schema(
        {
            "seconds": {"type": "number", "minimum": 0, "maximum": 31_536_000},
            "until": {"type": "string", "format": "template"},
        }
    )

    def run(self, ctx: NodeContext) -> Wait:
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
            due = now + timedelta(seconds=float(ctx.config.get("seconds", 0)))
        return Wait(due_at=due, input={"due_at": due.isoformat()})

    def resume(self, ctx: NodeContext, payload: dict[str, Any]) -> Done:
        return Done(output={"waited_until": ctx.step_input.get("due_at")})


NODE = WaitNode()
