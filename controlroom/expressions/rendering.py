"""The public API: check, render and evaluate what a user wrote, and read its references.

Owns compiling (cached per source), the checks a flow document runs when it is saved
(``check_template``, ``check_condition``), rendering (``render``, ``render_value``: one
``{{ expr }}`` keeps its JSON type, anything else is text of at most ``MAX_TEMPLATE_OUTPUT``
characters), evaluating a condition (``evaluate``), and ``step_references``. Each render or
evaluation runs under a fresh budget, and whatever it raises that is a user's error becomes an
``ExpressionError`` saying what.
"""

from __future__ import annotations

import json
import math
import re
import types
from collections.abc import Callable, Iterator, Mapping
from functools import lru_cache
from typing import Any

from django.conf import settings
from jinja2 import TemplateSyntaxError, Undefined, nodes

from controlroom.expressions.limits import (
    _BUDGET,
    _USER_ERRORS,
    ExpressionError,
    _bounded_items,
    _Budget,
    _charge,
)
from controlroom.expressions.sandbox import environment

_SINGLE_EXPRESSION = re.compile(r"^\s*\{\{(?P<expr>(?:(?!\}\}|\{\{).)*)\}\}\s*$", re.DOTALL)


def _max_output() -> int:
    return int(settings.CONTROLROOM["MAX_TEMPLATE_OUTPUT"])


@lru_cache(maxsize=4096)
def _compile_template(source: str) -> Any:
    return environment().from_string(source)


@lru_cache(maxsize=4096)
def _compile_expression(source: str) -> Any:
    return environment().compile_expression(source, undefined_to_none=True)


def check_template(source: str) -> None:
    """Raise ``ExpressionError`` if ``source`` is not a valid template (a syntax error, or one
    the compiler cannot handle, such as nesting deep enough to exhaust its recursion)."""
    try:
        _compile_template(source)
    except TemplateSyntaxError as exc:
        raise ExpressionError(f"template syntax error: {exc.message}") from exc
    except _USER_ERRORS as exc:
        raise ExpressionError(f"template cannot be compiled: {_describe(exc)}") from exc


def check_condition(source: str) -> None:
    """Raise ``ExpressionError`` if ``source`` is not a valid condition expression."""
    if "{{" in source or "{%" in source:
        raise ExpressionError("a condition is a bare expression, without {{ }}")
    try:
        _compile_expression(source)
    except TemplateSyntaxError as exc:
        raise ExpressionError(f"condition syntax error: {exc.message}") from exc
    except _USER_ERRORS as exc:
        raise ExpressionError(f"condition cannot be compiled: {_describe(exc)}") from exc


def _describe(exc: BaseException) -> str:
    """A user error's message (some, like a bare ``AssertionError``, have none)."""
    if isinstance(exc, RecursionError):
        return "it is nested too deeply"
    if isinstance(exc, MemoryError):
        return "it needs too much memory"
    return str(exc) or type(exc).__name__


def _json_key(key: Any) -> str:
    if isinstance(key, str):
        return key
    if key is None or isinstance(key, bool | int | float):
        return json.dumps(key)
    raise ExpressionError(f"a {type(key).__name__} cannot be a key in a JSON object")


def _to_json(value: Any, depth: int = 0) -> Any:
    """The JSON value of what a single ``{{ expr }}`` produced (undefined becomes None)."""
    if depth > 100:
        raise ExpressionError("the value is nested too deeply")
    if isinstance(value, Undefined) or value is None or isinstance(value, bool | int):
        return None if isinstance(value, Undefined) else value
    if isinstance(value, str):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ExpressionError(f"{value} is not a JSON number")
        return value
    if isinstance(value, dict):
        return {_json_key(key): _to_json(item, depth + 1) for key, item in value.items()}
    if isinstance(value, list | tuple):
        _charge(len(value))
        return [_to_json(item, depth + 1) for item in value]
    if isinstance(value, range | types.GeneratorType):
        return [_to_json(item, depth + 1) for item in _bounded_items(value)]
    raise ExpressionError(f"the template produced a {type(value).__name__}, not a JSON value")


def _run[T](thunk: Callable[[], T], what: str) -> T:
    token = _BUDGET.set(_Budget())
    try:
        return thunk()
    except ExpressionError:
        raise
    except _USER_ERRORS as exc:
        raise ExpressionError(f"{what} failed: {_describe(exc)}") from exc
    finally:
        _BUDGET.reset(token)


def _render_text(template: Any, context: Mapping[str, Any]) -> str:
    limit = _max_output()
    parts: list[str] = []
    length = 0
    for chunk in template.generate(**context):
        length += len(chunk)
        if length > limit:
            raise ExpressionError(f"template output exceeds {limit} characters")
        parts.append(chunk)
    return "".join(parts)


def render(source: str, context: Mapping[str, Any]) -> Any:
    """Render a template. A template that is exactly one ``{{ expr }}`` keeps the value's type
    (a list stays a list; anything that is not JSON data is an error); anything else renders to
    text of at most ``MAX_TEMPLATE_OUTPUT`` characters."""
    match = _SINGLE_EXPRESSION.match(source)

    def thunk() -> Any:
        if match:
            value = _to_json(_compile_expression(match.group("expr").strip())(**context))
            if isinstance(value, str) and len(value) > _max_output():
                raise ExpressionError(f"template output exceeds {_max_output()} characters")
            return value
        return _render_text(_compile_template(source), context)

    return _run(thunk, "template")


def render_value(value: Any, context: Mapping[str, Any]) -> Any:
    """Render every string inside a JSON-like value (dicts and lists recursively)."""
    if isinstance(value, str):
        return render(value, context) if ("{{" in value or "{%" in value) else value
    if isinstance(value, dict):
        return {key: render_value(item, context) for key, item in value.items()}
    if isinstance(value, list):
        return [render_value(item, context) for item in value]
    return value


def evaluate(condition: str, context: Mapping[str, Any]) -> bool:
    """Evaluate a condition to a boolean; an error is an ``ExpressionError``."""
    return _run(lambda: bool(_compile_expression(condition)(**context)), f"condition {condition!r}")


def step_references(source: str, *, is_condition: bool) -> Iterator[str]:
    """Yield the node ids a template or condition reads through ``steps.<id>``."""
    try:
        if is_condition:
            tree = environment().parse("{{ " + source + " }}")
        else:
            tree = environment().parse(source)
    except _USER_ERRORS:  # reported by check_template / check_condition
        return
    for attribute in tree.find_all(nodes.Getattr):
        if isinstance(attribute.node, nodes.Name) and attribute.node.name == "steps":
            yield attribute.attr
    for item in tree.find_all(nodes.Getitem):
        if (
            isinstance(item.node, nodes.Name)
            and item.node.name == "steps"
            and isinstance(item.arg, nodes.Const)
            and isinstance(item.arg.value, str)
        ):
            yield item.arg.value
