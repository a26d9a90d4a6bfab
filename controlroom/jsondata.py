"""What counts as JSON data here: what PostgreSQL's ``jsonb`` stores and JSON export gives back,
and the bounded parsers every JSON or YAML text from a user goes through.

Python's ``json`` and YAML parsers accept more (NaN and Infinity, NUL characters, dates, bytes,
sets, non-string keys, aliases that expand a few bytes into a huge or cyclic value) and recurse
once per nesting level (a deep enough text is a ``RecursionError``, not a syntax error). So:

- ``json_parse`` and ``yaml_parse`` refuse a text nested more than ``max_depth`` levels *before*
  the parser recurses, and ``yaml_parse`` counts the size of the data as it composes it, each
  alias counted at the full size of what it repeats, and stops once that passes ``max_size``:
  a small file never becomes a huge value, not even briefly;
- callers still check the parsed value with ``first_problem`` before keeping it.

Every refusal is a ``DataError`` (a ``ValueError``) whose message says what is wrong.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

import yaml
from yaml.events import AliasEvent
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

#: Nesting accepted by default: objects and arrays inside one another.
MAX_DEPTH = 64


class DataError(ValueError):
    """A text that is not bounded JSON data; the message says why, for a person to read."""


class TooDeep(DataError):
    """Nested more than the caller's ``max_depth``."""


class TooLarge(DataError):
    """Larger, once YAML aliases are expanded, than the caller's ``max_size``."""


def reject_constant(name: str) -> Any:
    """``parse_constant`` for ``json.loads``: NaN and Infinity are not JSON."""
    raise DataError(f"{name} is not a JSON number")


def _too_deep(max_depth: int) -> TooDeep:
    return TooDeep(f"nested too deeply (more than {max_depth} levels)")


# A JSON string (skipped: brackets inside it do not nest) or a bracket.
_JSON_NESTING = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]')


def _check_json_depth(text: str, max_depth: int) -> None:
    if text.count("[") + text.count("{") <= max_depth:
        return
    depth = 0
    for match in _JSON_NESTING.finditer(text):
        token = match.group()
        if token in ("[", "{"):
            depth += 1
            if depth > max_depth:
                raise _too_deep(max_depth)
        elif token in ("]", "}"):
            depth -= 1


def json_parse(raw: bytes | str, *, max_depth: int = MAX_DEPTH) -> Any:
    """Parse one JSON text (bytes in UTF-8, -16 or -32, as ``json.loads`` detects them).

    Raises ``json.JSONDecodeError`` (its message names line and column) for bad syntax,
    ``UnicodeDecodeError`` for bytes that are not text, ``DataError`` for NaN or Infinity and
    ``TooDeep`` for objects and arrays nested more than ``max_depth`` levels — all of them
    ``ValueError``, never a ``RecursionError``. The nesting is checked before parsing."""
    text = raw.decode(json.detect_encoding(raw)) if isinstance(raw, bytes | bytearray) else raw
    _check_json_depth(text, max_depth)
    try:
        return json.loads(text, parse_constant=reject_constant)
    except RecursionError:  # a backstop: the scan above refuses deep texts first
        raise _too_deep(max_depth) from None


class _BoundedYamlLoader(yaml.SafeLoader):
    """Safe YAML that yields JSON data only, composed under two bounds.

    An unquoted date stays the string it was written as (a ``datetime.date`` could not be
    stored, exported or compared with the JSON import). While composing, the loader keeps a
    running count of the data's size — characters of every scalar plus one per list or
    object, an alias adding the whole size of the value it repeats — and of each value's
    nesting (an alias nests what it repeats where it stands); it stops with ``TooLarge`` or
    ``TooDeep`` the moment either passes its limit, and refuses an alias inside the value it
    names (a cycle). Nothing is expanded to find out: aliases stay shared references."""

    max_size = 0
    max_depth = MAX_DEPTH

    def __init__(self, stream: Any) -> None:
        super().__init__(stream)
        self._expanded = 0
        self._level = 0
        # size and height of each composed node, by identity; an anchored node still being
        # composed is missing, which is how an alias inside it is recognised as a cycle.
        self._shapes: dict[int, tuple[int, int]] = {}

    def _grow(self, size: int) -> None:
        self._expanded += size
        if self._expanded > self.max_size:
            raise TooLarge(
                f"more than {self.max_size} characters and items once its aliases are expanded"
            )

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        if self.check_event(AliasEvent):
            # check_event just made the alias the parser's current event (the stubs leave
            # peek_event, which returns the same, untyped).
            anchor = self.current_event.anchor
            target = self.anchors.get(anchor)
            if target is not None:
                shape = self._shapes.get(id(target))
                if shape is None:
                    raise DataError(f"the alias *{anchor} is inside the value it names (a cycle)")
                size, height = shape
                if self._level + height > self.max_depth:
                    raise _too_deep(self.max_depth)
                self._grow(size)
            return super().compose_node(parent, index)
        if self._level > self.max_depth:
            raise _too_deep(self.max_depth)
        before = self._expanded
        self._level += 1
        try:
            node = super().compose_node(parent, index)
        finally:
            self._level -= 1
        self._shapes[id(node)] = (self._expanded - before, self._height(node))
        return node

    # (the stubs type ``anchor`` wrongly as a dict: it is the anchor's name or None)
    def compose_scalar_node(self, anchor: Any) -> ScalarNode:
        node = super().compose_scalar_node(anchor)
        self._grow(len(node.value))
        return node

    def compose_sequence_node(self, anchor: Any) -> SequenceNode:
        self._grow(1)
        return super().compose_sequence_node(anchor)

    def compose_mapping_node(self, anchor: Any) -> MappingNode:
        self._grow(1)
        return super().compose_mapping_node(anchor)

    def _height(self, node: Node | None) -> int:
        if isinstance(node, SequenceNode):
            children: list[Node] = node.value
        elif isinstance(node, MappingNode):
            children = [child for pair in node.value for child in pair]
        else:
            return 0
        return max((1 + self._shapes[id(child)][1] for child in children), default=0)


_BoundedYamlLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def yaml_parse(raw: bytes | str, *, max_size: int, max_depth: int = MAX_DEPTH) -> Any:
    """Parse one YAML document with the safe loader (no Python objects, dates stay text).

    The size of the data — characters of every scalar plus one per list or object, each alias
    counted at the full size of the value it repeats — is counted while composing and may not
    pass ``max_size`` (``TooLarge``); nesting, aliases included, may not pass ``max_depth``
    (``TooDeep``); an alias inside the value it names is a ``DataError``. Bad syntax is a
    ``yaml.YAMLError``. The result may still hold values JSON cannot (bytes, sets, non-string
    keys, NaN): check it with ``first_problem``."""
    loader = _BoundedYamlLoader(raw)
    loader.max_size = max_size
    loader.max_depth = max_depth
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


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
        if isinstance(item, dict | list):
            problem = _push_children(item, path, stack)
        else:
            problem = _leaf_problem(item)
        if problem is not None:
            return path, problem
    return None


def _push_children(
    item: dict[Any, Any] | list[Any], path: list[Any], stack: list[tuple[Any, list[Any]]]
) -> str | None:
    """Push each child of the object or array ``item`` (at ``path``) onto ``stack`` with its
    path; the message for the first key that is not storable stops it."""
    if isinstance(item, list):
        stack.extend((child, [*path, index]) for index, child in enumerate(item))
        return None
    for key, child in item.items():
        if not isinstance(key, str):
            return f"key {key!r} is not a string"
        if "\x00" in key:
            return "keys cannot contain NUL characters"
        stack.append((child, [*path, key]))
    return None


def _leaf_problem(item: object) -> str | None:
    """Why ``item``, neither an object nor an array, is not a storable JSON value; or None."""
    if isinstance(item, str):
        return "text cannot contain NUL characters" if "\x00" in item else None
    if isinstance(item, float):
        return None if math.isfinite(item) else f"{item} is not a JSON number"
    if item is None or isinstance(item, bool | int):
        return None
    return f"a {type(item).__name__} is not a JSON value"
