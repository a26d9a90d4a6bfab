"""The tool contract: a name, a category policies key on, an argument schema, and a call."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


class ToolError(Exception):
    """Bad arguments or a refused call: the step fails and nothing is retried."""


class ToolTransientError(ToolError):
    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True)
class ToolCall:
    args: dict[str, Any]
    idempotency_key: str
    subject: str
    # The calling run and step, by value; empty/None outside a run.
    run_id: str = ""
    step_id: int | None = None


@dataclass(frozen=True)
class Tool:
    """A callable tool. ``category`` is what policies key on; a tool whose category depends on
    its arguments (``http``: GET reads, POST writes) sets ``categorize``, and callers ask
    ``category_for(args)``. ``description`` may come from outside (an MCP server): it is data,
    shown escaped, and never changes the category or anything else about the tool."""

    name: str
    category: str  # read | write | outbound_message | payment | ...
    description: str
    args_schema: dict[str, Any]
    call: Callable[[ToolCall], Any]
    side_effect: bool = True
    tags: tuple[str, ...] = field(default_factory=tuple)
    categorize: Callable[[dict[str, Any]], str] | None = None
    #: Checks of schema-valid arguments that a JSON Schema cannot express (``send_email``: one
    #: recipient, parsed); raises ``ToolError``. Run by ``tools.tool_args_check``.
    check_args: Callable[[dict[str, Any]], None] | None = None

    def category_for(self, args: dict[str, Any]) -> str:
        """The category of a call with ``args`` (the static one unless ``categorize`` says)."""
        return self.categorize(args) if self.categorize is not None else self.category

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "category": self.category,
            "description": self.description,
            "args_schema": self.args_schema,
            "side_effect": self.side_effect,
        }
