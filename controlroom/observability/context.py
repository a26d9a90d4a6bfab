"""The run and step the current code works for, as context variables.

The runner binds them around a step's execution; log lines (``logs.JsonFormatter``) and spans
read them. Context variables follow threads started with ``contextvars.copy_context`` and
asyncio tasks, and never leak between Celery tasks: ``bound`` resets them on exit.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
from collections.abc import Callable, Iterator
from typing import Any

run_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("run_id", default=None)
step_id: contextvars.ContextVar[int | None] = contextvars.ContextVar("step_id", default=None)
node_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("node_id", default=None)


@contextlib.contextmanager
def bound(*, run: Any, step: int | None = None, node: str | None = None) -> Iterator[None]:
    """Bind the ids for the duration of the block, restoring what was bound before."""
    tokens = (run_id.set(str(run)), step_id.set(step), node_id.set(node))
    try:
        yield
    finally:
        node_id.reset(tokens[2])
        step_id.reset(tokens[1])
        run_id.reset(tokens[0])


def current() -> dict[str, Any]:
    """The bound ids (only those set), for a log line or a span."""
    values = {"run_id": run_id.get(), "step_id": step_id.get(), "node_id": node_id.get()}
    return {name: value for name, value in values.items() if value is not None}


def bind(*, run: Any, step: int | None = None, node: str | None = None) -> None:
    """Bind the ids until the enclosing ``isolated`` call returns (no reset needed)."""
    run_id.set(str(run))
    step_id.set(step)
    node_id.set(node)


def isolated[**P, R](function: Callable[P, R]) -> Callable[P, R]:
    """Run ``function`` in a copy of the current context: whatever it ``bind``s (and any
    span it makes current) is gone when it returns, so the next task in the same worker
    process starts clean."""

    @functools.wraps(function)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        return contextvars.copy_context().run(function, *args, **kwargs)

    return wrapper
