"""What can go wrong running an agent, classified by class: ``AgentTransientError`` is worth
retrying (after ``retry_after`` seconds if given); any other ``AgentError`` is final.

``ModelCallError`` (and its transient kind) says the *provider* failed a model call — an HTTP
error, a timeout, a refused connection, an unknown provider or a request egress refused — as
opposed to the agent's answer, its tools or a policy. A cascade hands such a failure over to its
next stage (``agents.runtime.agent_invoke``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agents.runtime.loop import StageRun


class AgentError(Exception):
    """The agent's call failed in a way retrying will not fix.

    What the failed call had used is kept for billing (a failed attempt's tokens are spent
    all the same): ``partial`` is what the failing stage used before the failure, set by
    ``stage_run``; ``routing`` has one entry per stage tried, the failing one included, each
    with its own model, tokens and cost (set by ``agent_invoke``; empty when raised
    elsewhere)."""

    partial: StageRun | None = None
    routing: list[dict[str, Any]] = []  # replaced per instance, never mutated


class AgentTransientError(AgentError):
    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class OutputRejected(AgentError):
    """The answer is not valid JSON or does not match the output schema."""


class ModelCallError(AgentError):
    """The provider failed a model call. ``partial`` is what the stage used before the failing
    call (earlier turns of its tool loop), set by ``stage_run``; None when nothing was used."""


class ModelCallTransientError(AgentTransientError, ModelCallError):
    """The provider failed a model call in a way worth retrying (429, 5xx, timeout, network)."""
