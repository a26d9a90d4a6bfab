"""The hooks through which the orchestrator enforces policies inside an agent's loop.

``agents`` never imports ``flows``: the runtime calls a ``Guard`` it is handed, and ``flows``
(``flows.guardrails``) implements it, gathering the facts and acting on the verdicts. A guard
may rewrite what leaves (PII placeholders), refuse (``PolicyBlocked``: the step fails with the
reason), or park the step for a person (``PolicyParked``: the step waits in the inbox and runs
again once approved; effects already made replay from the ledger).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from agents.providers import ModelRequest, ModelResponse
from agents.runtime.errors import AgentError


class PolicyBlocked(AgentError):
    """A policy blocked a model call, a tool call or an output; nothing was executed."""


class PolicyParked(AgentError):
    """A policy requires a person's approval first. ``draft`` is exactly what is shown
    (``{"tool", "arguments"}`` for a tool call); ``key`` is the call's idempotency key."""

    def __init__(self, reason: str, *, title: str, draft: Any, key: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.title = title
        self.draft = draft
        self.key = key


@dataclass
class ModelTicket:
    """A model call the guard let through: the request to send (maybe redacted) and what the
    guard needs afterwards (its budget reservation, the PII placeholders to restore)."""

    request: ModelRequest
    reservation: int | None = None
    placeholders: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ToolPass:
    """A tool call the guard let through, with the arguments to use (an approver's edit)."""

    arguments: dict[str, Any]


class Guard:
    """The no-op guard: everything passes. ``flows.guardrails.StepGuard`` is the real one."""

    def model_call(self, request: ModelRequest, *, turns: int) -> ModelTicket:
        """Before a model call (``turns`` model calls were made before it in this step)."""
        return ModelTicket(request=request)

    def model_done(
        self, ticket: ModelTicket, response: ModelResponse | None
    ) -> ModelResponse | None:
        """After the call (``None`` when it failed): reconcile, restore placeholders."""
        return response

    def tool_call(self, *, name: str, arguments: dict[str, Any], key: str) -> ToolPass:
        """Before a tool call the model asked for."""
        return ToolPass(arguments=arguments)

    def tool_failed(self, *, key: str) -> None:
        """The call let through was refused by the tool (bad arguments, a 4xx): nothing
        happened, so capacity reserved for it is given back."""

    def output(self, output: Any, *, confidence: float | None) -> None:
        """After the agent's accepted answer, before it becomes the step's output."""


NO_GUARD = Guard()
