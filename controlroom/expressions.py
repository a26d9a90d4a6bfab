"""Sandboxed templates and conditions for flow documents.

Everything a user writes in a flow (``{{ input.email }}``, ``steps.qualify.output.score >= 70``)
goes through Jinja2's ``ImmutableSandboxedEnvironment``: no attribute escapes, no imports, no
``eval``, no mutation of the data it reads. On top of Jinja's sandbox, every render or evaluation
is bounded so that a template can fail but never hang a worker or exhaust its memory:

- *work*: attribute and item lookups, calls, filters, tests, loop iterations and every value a
  template builds are charged to a budget (``MAX_WORK`` units, ``MAX_SECONDS`` of wall time);
- *values*: anything a template builds (strings, lists, dicts, joins, repetitions, formats) is
  at most ``MAX_VALUE_SIZE`` characters-plus-items, integers at most ``MAX_INT_BITS`` bits, and
  padding widths at most ``MAX_SEQUENCE`` — checked *before* the allocation where it could be
  large;
- *output*: rendered text is cut off at ``MAX_TEMPLATE_OUTPUT`` while it streams.

Anything that goes wrong while evaluating user input is an ``ExpressionError``.
"""

from __future__ import annotations

import functools
import itertools
import json
import math
import re
import string
import time
import types
from collections.abc import Callable, Iterator, Mapping
from contextvars import ContextVar
from functools import lru_cache
from typing import Any

from django.conf import settings
from jinja2 import ChainableUndefined, TemplateSyntaxError, Undefined, nodes
from jinja2.exceptions import SecurityError, TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.visitor import NodeTransformer

_SINGLE_EXPRESSION = re.compile(r"^\s*\{\{(?P<expr>(?:(?!\}\}|\{\{).)*)\}\}\s*$", re.DOTALL)

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

# What evaluating user input can raise. Not ``Exception``: a Celery soft time limit, for one,
# must reach the engine as what it is.
_USER_ERRORS = (
    TemplateError,
    TypeError,
    ValueError,
    ArithmeticError,
    LookupError,
    AttributeError,
    RuntimeError,
    MemoryError,
)

# Methods of plain data a template may call; everything else on these types is refused.
_METHODS: dict[type, frozenset[str]] = {
    str: frozenset(
        {
            "capitalize",
            "casefold",
            "center",
            "count",
            "endswith",
            "find",
            "format",
            "format_map",
            "index",
            "isalnum",
            "isalpha",
            "isdecimal",
            "isdigit",
            "islower",
            "isnumeric",
            "isspace",
            "istitle",
            "isupper",
            "join",
            "ljust",
            "lower",
            "lstrip",
            "partition",
            "removeprefix",
            "removesuffix",
            "replace",
            "rfind",
            "rindex",
            "rjust",
            "rpartition",
            "rsplit",
            "rstrip",
            "split",
            "splitlines",
            "startswith",
            "strip",
            "swapcase",
            "title",
            "upper",
            "zfill",
        }
    ),
    list: frozenset({"count", "index"}),
    tuple: frozenset({"count", "index"}),
    dict: frozenset({"get", "items", "keys", "values"}),
    int: frozenset(),
    float: frozenset({"is_integer"}),
    bool: frozenset(),
}
_DATA_TYPES = tuple(_METHODS)
_PADDING_METHODS = frozenset({"center", "ljust", "rjust", "zfill"})


class ExpressionError(ValueError):
    """A template or condition that does not parse, or fails when evaluated."""


def _max_output() -> int:
    return int(settings.CONTROLROOM["MAX_TEMPLATE_OUTPUT"])


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


def _size(value: Any, limit: int = MAX_VALUE_SIZE) -> int:
    """Characters plus items in ``value`` (shared parts counted each time, as printing would),
    counted only until ``limit`` is passed."""
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
        size = _size(value)
        _charge(size)
        if size > MAX_VALUE_SIZE:
            raise SecurityError(
                f"a value in the template exceeds {MAX_VALUE_SIZE} characters and items"
            )
    elif isinstance(value, int) and value.bit_length() > MAX_INT_BITS:
        raise SecurityError(f"a number in the template exceeds {MAX_INT_BITS} bits")
    return value


# --- checks made before an allocation that could be large ----------------------------------
def _check_repeat(left: Any, right: Any) -> None:
    sequence, count = (left, right) if isinstance(left, str | list | tuple) else (right, left)
    if isinstance(sequence, str | list | tuple) and isinstance(count, int):
        if count > 0 and (
            len(sequence) * count > MAX_SEQUENCE or _size(sequence) * count > MAX_VALUE_SIZE
        ):
            raise SecurityError("repetition result too large")
    elif (
        isinstance(left, int)
        and isinstance(right, int)
        and left.bit_length() + right.bit_length() > MAX_INT_BITS
    ):
        raise SecurityError("product too large")


def _check_power(base: Any, exponent: Any) -> None:
    if isinstance(exponent, int | float) and abs(exponent) > MAX_EXPONENT:
        raise SecurityError("exponent too large")
    if (
        isinstance(base, int)
        and isinstance(exponent, int)
        and exponent > 0
        and base.bit_length() * exponent > MAX_INT_BITS
    ):
        raise SecurityError("power too large")


_PERCENT_SPEC = re.compile(r"%%|%(?:\([^)]*\))?(?P<spec>[-#0 +]*[\d*]*(?:\.[\d*]*)?)")


def _check_widths(spec: str) -> None:
    widths = (int(number) for number in re.findall(r"\d+", spec))
    if "*" in spec or "{" in spec or any(width > MAX_FORMAT_WIDTH for width in widths):
        raise SecurityError(f"format widths above {MAX_FORMAT_WIDTH} are not allowed")


def _check_percent_format(fmt: str) -> None:
    for match in _PERCENT_SPEC.finditer(fmt):
        if match.group("spec"):
            _check_widths(match.group("spec"))


def _check_brace_format(fmt: str) -> None:
    for _, field, spec, _ in string.Formatter().parse(fmt):
        if field is not None and spec:
            _check_widths(spec)


def _check_replace(text: str, old: Any, new: Any, count: Any = -1) -> None:
    if not (isinstance(old, str) and isinstance(new, str)):
        return
    found = len(text) + 1 if old == "" else text.count(old)
    if isinstance(count, int) and count >= 0:
        found = min(found, count)
    if len(text) + found * max(0, len(new) - len(old)) > MAX_VALUE_SIZE:
        raise SecurityError("replace result too large")


def _bounded_items(items: Any) -> list[Any]:
    """Materialise an iterable a template joins, refusing one that is too long."""
    listed = list(itertools.islice(_iterate(items), MAX_SEQUENCE + 1))
    if len(listed) > MAX_SEQUENCE:
        raise SecurityError("too many items to join")
    return listed


def _check_join(separator: str, items: list[Any]) -> None:
    if len(separator) * len(items) + _size(items) > MAX_VALUE_SIZE:
        raise SecurityError("join result too large")


def _int_arg(args: tuple[Any, ...], kwargs: dict[str, Any], index: int, name: str) -> Any:
    return args[index] if len(args) > index else kwargs.get(name)


def _check_width(width: Any) -> None:
    if isinstance(width, int) and width > MAX_SEQUENCE:
        raise SecurityError(f"widths above {MAX_SEQUENCE} are not allowed")


# Filters whose arguments can ask for a large allocation: (value, args, kwargs) -> new args.
def _filter_center(value: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...]:
    _check_width(_int_arg(args, kwargs, 0, "width"))
    return args


def _filter_indent(value: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...]:
    width = _int_arg(args, kwargs, 0, "width")
    step = len(width) if isinstance(width, str) else width if isinstance(width, int) else 4
    if len(str(value)) + (str(value).count("\n") + 1) * max(step, 0) > MAX_VALUE_SIZE:
        raise SecurityError("indent result too large")
    return args


def _filter_batch(value: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...]:
    _check_width(_int_arg(args, kwargs, 0, "linecount"))
    _check_width(_int_arg(args, kwargs, 0, "slices"))
    return args


def _filter_replace(value: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...]:
    _check_replace(str(value), *args[:3])
    return args


def _filter_format(value: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...]:
    _check_percent_format(str(value))
    return args


_FILTER_CHECKS: dict[str, Callable[[Any, tuple[Any, ...], dict[str, Any]], tuple[Any, ...]]] = {
    "center": _filter_center,
    "indent": _filter_indent,
    "batch": _filter_batch,
    "slice": _filter_batch,
    "replace": _filter_replace,
    "format": _filter_format,
}


def _bounded_filter(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a Jinja filter or test: charge for its input, check risky arguments first, and
    bound what it builds. Keeps Jinja's ``pass_context``-style markers (copied by ``wraps``)."""
    offset = 1 if getattr(func, "jinja_pass_arg", None) is not None else 0
    check = _FILTER_CHECKS.get(name)

    @functools.wraps(func)
    def bounded(*args: Any, **kwargs: Any) -> Any:
        value = args[offset] if len(args) > offset else None
        _charge(1 + (len(value) if isinstance(value, str | list | tuple | dict | range) else 0))
        if name == "join" and len(args) > offset:
            value = _bounded_items(value)
            separator = _int_arg(args[offset + 1 :], kwargs, 0, "d")
            _check_join(separator if isinstance(separator, str) else "", value)
            args = (*args[:offset], value, *args[offset + 1 :])
        if check is not None:
            args = (*args[: offset + 1], *check(value, args[offset + 1 :], kwargs))
        result = func(*args, **kwargs)
        if result is not value:
            _made(result)
        return result

    return bounded


# --- loop iteration, literals and ``~`` (rewritten into calls at compile time) --------------------
def _iterate(iterable: Any) -> Iterator[Any]:
    for item in iterable:
        _charge()
        yield item


def _concat(*parts: Any) -> str:
    texts = [str(part) for part in parts]
    if sum(len(text) for text in texts) > MAX_VALUE_SIZE:
        raise SecurityError(f"a string in the template exceeds {MAX_VALUE_SIZE} characters")
    return _made("".join(texts))


def _list(*items: Any) -> list[Any]:
    return _made(list(items))  # type: ignore[no-any-return]


def _tuple(*items: Any) -> tuple[Any, ...]:
    return _made(tuple(items))  # type: ignore[no-any-return]


def _dict(*pairs: tuple[Any, Any]) -> dict[Any, Any]:
    return _made(dict(pairs))  # type: ignore[no-any-return]


class _Bound(NodeTransformer):
    """Rewrites a parsed template so that loops, literals and ``~`` go through the budget, and
    refuses the constructs that reach outside the data (``self``, recursive loops)."""

    def __init__(self, name: str | None, filename: str | None) -> None:
        self.name = name
        self.filename = filename

    def _refuse(self, message: str, node: nodes.Node) -> TemplateSyntaxError:
        return TemplateSyntaxError(message, node.lineno, self.name, self.filename)

    @staticmethod
    def _call(helper: str, args: list[nodes.Expr], lineno: int) -> nodes.Call:
        return nodes.Call(
            nodes.EnvironmentAttribute(helper, lineno=lineno), args, [], None, None, lineno=lineno
        )

    def visit_Name(self, node: nodes.Name) -> nodes.Node:
        if node.name == "self":
            raise self._refuse("'self' is not available in templates", node)
        return node

    def visit_For(self, node: nodes.For) -> nodes.Node:
        if node.recursive:
            raise self._refuse("recursive loops are not available in templates", node)
        self.generic_visit(node)
        iterable: Any = node.iter
        node.iter = self._call("cr_iterate", [iterable], node.lineno)
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        self.generic_visit(node)
        return self._call("cr_concat", node.nodes, node.lineno)

    def visit_List(self, node: nodes.List) -> nodes.Node:
        self.generic_visit(node)
        return self._call("cr_list", node.items, node.lineno)

    def visit_Tuple(self, node: nodes.Tuple) -> nodes.Node:
        self.generic_visit(node)
        if node.ctx != "load":
            return node
        return self._call("cr_tuple", node.items, node.lineno)

    def visit_Dict(self, node: nodes.Dict) -> nodes.Node:
        self.generic_visit(node)
        pairs: list[nodes.Expr] = [
            nodes.Tuple([pair.key, pair.value], "load", lineno=pair.lineno) for pair in node.items
        ]
        return self._call("cr_dict", pairs, node.lineno)


# --- the environment ---------------------------------------------------------------------
class _Env(ImmutableSandboxedEnvironment):
    intercepted_binops = frozenset({"*", "**", "+", "%"})

    cr_iterate = staticmethod(_iterate)
    cr_concat = staticmethod(_concat)
    cr_list = staticmethod(_list)
    cr_tuple = staticmethod(_tuple)
    cr_dict = staticmethod(_dict)

    def _generate(
        self,
        source: nodes.Template,
        name: str | None,
        filename: str | None,
        defer_init: bool = False,
    ) -> str:
        source = _Bound(name, filename).visit(source)
        return super()._generate(source, name, filename, defer_init=defer_init)  # type: ignore[no-any-return]

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        if not super().is_safe_attribute(obj, attr, value):
            return False
        if isinstance(obj, _DATA_TYPES) and callable(value):
            allowed = next(names for kind, names in _METHODS.items() if isinstance(obj, kind))
            return attr in allowed
        return True

    def unsafe_undefined(self, obj: Any, attribute: str) -> Undefined:
        # Jinja returns an undefined value here, which a ChainableUndefined would swallow into
        # None; an attempted escape must fail loudly instead.
        raise SecurityError(f"{type(obj).__name__}.{attribute} is not available in templates")

    def getattr(self, obj: Any, attribute: str) -> Any:
        _charge()
        if isinstance(obj, dict) and attribute in obj and attribute not in _METHODS[dict]:
            # JSON data first: ``input.copy`` is the field "copy", not dict.copy.
            return obj[attribute]
        if isinstance(obj, str) and attribute in {"format", "format_map"}:
            _check_brace_format(obj)
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        _charge()
        return super().getitem(obj, argument)

    def call(self, context: Any, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
        _charge()
        owner = getattr(obj, "__self__", None)
        if isinstance(owner, str) and isinstance(obj, types.BuiltinMethodType):
            name = obj.__name__
            if name in _PADDING_METHODS:
                _check_width(_int_arg(args, kwargs, 0, "width"))
            elif name == "replace":
                _check_replace(owner, *args[:3])
            elif name == "join" and args:
                items = _bounded_items(args[0])
                _check_join(owner, items)
                args = (items, *args[1:])
        result = super().call(context, obj, *args, **kwargs)
        if not any(result is arg for arg in args):
            _made(result)
        return result

    def call_binop(self, context: Any, operator_name: str, left: Any, right: Any) -> Any:
        _charge()
        if operator_name == "**":
            _check_power(left, right)
            return _made(left**right)
        if operator_name == "*":
            _check_repeat(left, right)
            return _made(left * right)
        if operator_name == "%":
            if isinstance(left, str):
                _check_percent_format(left)
            return _made(left % right)
        return _made(left + right)


def _tojson(value: Any) -> str:
    return json.dumps(value, default=str, ensure_ascii=False)


@lru_cache(maxsize=1)
def environment() -> _Env:
    env = _Env(undefined=ChainableUndefined, autoescape=False)
    env.filters["tojson"] = _tojson
    env.filters = {name: _bounded_filter(name, func) for name, func in env.filters.items()}
    env.tests = {name: _bounded_filter(name, test) for name, test in env.tests.items()}  # type: ignore[arg-type]
    env.globals.pop("lipsum", None)
    env.policies["json.dumps_kwargs"] = {"sort_keys": False}
    return env


@lru_cache(maxsize=4096)
def _compile_template(source: str) -> Any:
    return environment().from_string(source)


@lru_cache(maxsize=4096)
def _compile_expression(source: str) -> Any:
    return environment().compile_expression(source, undefined_to_none=True)


def check_template(source: str) -> None:
    """Raise ``ExpressionError`` if ``source`` is not a valid template."""
    try:
        _compile_template(source)
    except TemplateSyntaxError as exc:
        raise ExpressionError(f"template syntax error: {exc.message}") from exc


def check_condition(source: str) -> None:
    """Raise ``ExpressionError`` if ``source`` is not a valid condition expression."""
    if "{{" in source or "{%" in source:
        raise ExpressionError("a condition is a bare expression, without {{ }}")
    try:
        _compile_expression(source)
    except TemplateSyntaxError as exc:
        raise ExpressionError(f"condition syntax error: {exc.message}") from exc


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
        raise ExpressionError(f"{what} failed: {exc}") from exc
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
    except TemplateSyntaxError:
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


__all__ = [
    "ExpressionError",
    "check_condition",
    "check_template",
    "environment",
    "evaluate",
    "render",
    "render_value",
    "step_references",
]
