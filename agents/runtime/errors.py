"""What can go wrong running an agent, classified by class: ``AgentTransientError`` is worth
retrying (after ``retry_after`` seconds if given); any other ``AgentError`` is final."""

from __future__ import annotations


class AgentError(Exception):
    """The agent's call failed in a way retrying will not fix."""


class AgentTransientError(AgentError):
    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class OutputRejected(AgentError):
    """The answer is not valid JSON or does not match the output schema."""
