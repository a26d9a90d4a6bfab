"""The limits every render or evaluation is held to, and the budget that enforces them.

Owns the numeric limits (``MAX_*``), ``ExpressionError`` and the exceptions that count as a
user's error, the per-evaluation work budget (a context variable set by the public API for
the length of one render or evaluation), and the primitives the rest of the package bounds
values with: ``_charge`` (spend work units), ``_size`` and ``_made`` (measure and bound a value
a template built), ``_reserve`` (refuse a value before building it), ``_iterate`` and
``_bounded_items`` (iteration charged per item, and materialised to at most ``MAX_SEQUENCE``).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any

from jinja2.exceptions import SecurityError, TemplateError

#: Items in a list a template builds, and the widest padding it may ask for.
MAX_SEQUENCE = 100_000
#: Characters plus items of any one value a template builds.
MAX_VALUE_SIZE = 1_000_000
#: Work units per render or evaluation (lookups, calls, iterations, sizes of built values).
MAX_WORK = 5_000_000
#: Wall-clock backstop per render or evaluation.
MAX_SECONDS = 2.0
MAX_INT_BITS = 4096
MAX_EXPONENT = 64
MAX_FORMAT_WIDTH = 1000

# What evaluating user input can raise (Jinja's filters assert on their arguments, so an
# AssertionError is a user error too). Not ``Exception``: a Celery soft time limit, for one,
# must reach the engine as what it is.
_USER_ERRORS = (
    TemplateError,
    AssertionError,
    TypeError,
    ValueError,
    ArithmeticError,
    LookupError,
    AttributeError,
    RuntimeError,
    MemoryError,
)


class ExpressionError(ValueError):
    """A template or condition that does not parse, or fails when evaluated."""


# --- the budget --------------------------------------------------------------------------------
class _Budget:
    __slots__ = ("deadline", "left")

    def __init__(self) -> None:
        self.left = MAX_WORK
        self.deadline = time.monotonic() + MAX_SECONDS

    def charge(self, units: int) -> None:
        self.left -= units
        if self.left < 0:
            raise SecurityError(f"the template does too much work (over {MAX_WORK} units)")
        if time.monotonic() > self.deadline:
            raise SecurityError(f"the template took longer than {MAX_SECONDS} seconds")


_BUDGET: ContextVar[_Budget | None] = ContextVar("controlroom_expression_budget", default=None)


def _charge(units: int = 1) -> None:
    budget = _BUDGET.get()
    if budget is not None:
        budget.charge(units)


def value_size(value: Any, limit: int = MAX_VALUE_SIZE) -> int:
    """Characters plus items in ``value`` (shared parts counted each time, as printing would),
    counted only until ``limit`` is passed. The one size measure of built values: templates'
    results and the transform node's."""
    total = 0
    stack = [value]
    while stack and total <= limit:
        item = stack.pop()
        if isinstance(item, str):
            total += len(item)
        elif isinstance(item, dict):
            total += 1 + len(item)
            stack.extend(itertools.chain(item.keys(), item.values()))
        elif isinstance(item, list | tuple):
            total += 1 + len(item)
            stack.extend(item)
        else:
            total += 1
    return total


def _made(value: Any) -> Any:
    """Charge and bound a value the template built."""
    if isinstance(value, str | list | tuple | dict):
        size = value_size(value)
        _charge(size)
        if size > MAX_VALUE_SIZE:
            raise SecurityError(
                f"a value in the template exceeds {MAX_VALUE_SIZE} characters and items"
            )
    elif isinstance(value, int) and value.bit_length() > MAX_INT_BITS:
        raise SecurityError(f"a number in the template exceeds {MAX_INT_BITS} bits")
    return value


def _reserve(size: int, what: str) -> None:
    """Refuse ``what`` if the value it would build is larger than ``MAX_VALUE_SIZE``."""
    if size > MAX_VALUE_SIZE:
        raise SecurityError(f"{what} would exceed {MAX_VALUE_SIZE} characters and items")


def _bounded_items(items: Any) -> list[Any]:
    """Materialise an iterable a template joins or lists, refusing one that is too long."""
    listed = list(itertools.islice(_iterate(items), MAX_SEQUENCE + 1))
    if len(listed) > MAX_SEQUENCE:
        raise SecurityError(f"more than {MAX_SEQUENCE} items")
    return listed


def _iterate(iterable: Any) -> Iterator[Any]:
    """Iterate, charging one unit per item (every template loop is rewritten into this)."""
    for item in iterable:
        _charge()
        yield item


_size = value_size  # the name the bounds and filters modules use
