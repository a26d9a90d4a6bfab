"""What counts as JSON data here: what PostgreSQL's ``jsonb`` stores and JSON export gives back.

Python's ``json`` and YAML parsers accept more (NaN and Infinity, NUL characters, dates, bytes,
sets, non-string keys, aliases that expand a few bytes into a huge or cyclic value). Storing any
of those fails in the database or changes the data on export, so callers check parsed input
with ``first_problem`` before keeping it.
"""

from __future__ import annotations

import math
from typing import Any


def reject_constant(name: str) -> Any:
    """``parse_constant`` for ``json.loads``: NaN and Infinity are not JSON."""
    raise ValueError(f"{name} is not a JSON number")


def first_problem(value: Any, *, max_values: int, max_depth: int) -> tuple[list[Any], str] | None:
    """``(path, message)`` for the first part of ``value`` that is not storable JSON data, or
    None. At most ``max_values`` values are visited (so a cyclic value stops too)."""
    budget = max_values
    stack: list[tuple[Any, list[Any]]] = [(value, [])]
    while stack:
        item, path = stack.pop()
        budget -= 1
        if budget < 0:
            return [], f"more than {max_values} values"
        if len(path) > max_depth:
            return path, f"nested more than {max_depth} levels deep"
        if isinstance(item, dict):
            for key, child in item.items():
                if not isinstance(key, str):
                    return path, f"key {key!r} is not a string"
                if "\x00" in key:
                    return path, "keys cannot contain NUL characters"
                stack.append((child, [*path, key]))
        elif isinstance(item, list):
            stack.extend((child, [*path, index]) for index, child in enumerate(item))
        elif isinstance(item, str):
            if "\x00" in item:
                return path, "text cannot contain NUL characters"
        elif isinstance(item, float):
            if not math.isfinite(item):
                return path, f"{item} is not a JSON number"
        elif item is not None and not isinstance(item, bool | int):
            return path, f"a {type(item).__name__} is not a JSON value"
    return None
