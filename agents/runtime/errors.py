"""What can go wrong running an agent, classified by class: ``AgentTransientError`` is worth
retrying (after ``retry_after`` seconds if given); any other ``AgentError`` is final.

``ModelCallError`` (and its transient kind) says the *provider* failed a model call — an HTTP
error, a timeout, a refused connection, an unknown provider or a request egress refused — as
opposed to the agent's answer, its tools or a policy. A cascade hands such a failure over to its
next stage (``agents.runtime.agent_invoke``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from agents.runtime.loop import StageRun


class AgentError(Exception):
    """The agent's call failed in a way retrying will not fix."""


class AgentTransientError(AgentError):
    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class OutputRejected(AgentError):
    """The answer is not valid JSON or does not match the output schema."""


class ModelCallError(AgentError):
    """The provider failed a model call. ``partial`` is what the stage used before the failing
    call (earlier turns of its tool loop), set by ``stage_run``; None when nothing was used."""

    partial: StageRun | None = None


class ModelCallTransientError(AgentTransientError, ModelCallError):
    """The provider failed a model call in a way worth retrying (429, 5xx, timeout, network)."""
