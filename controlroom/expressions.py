"""Sandboxed templates and conditions for flow documents.

Everything a user writes in a flow (``{{ input.email }}``, ``steps.qualify.output.score >= 70``)
goes through Jinja2's ``ImmutableSandboxedEnvironment``: no attribute escapes, no imports, no
``eval``, no mutation of the data it reads. On top of Jinja's sandbox, every render or evaluation
is bounded so that a template can fail but never hang a worker or exhaust its memory:

- *work*: attribute and item lookups, calls, filters, tests, loop iterations and every value a
  template builds are charged to a budget (``MAX_WORK`` units, ``MAX_SECONDS`` of wall time);
- *values*: anything a template builds (strings, lists, dicts) is at most ``MAX_VALUE_SIZE``
  characters-plus-items, integers at most ``MAX_INT_BITS`` bits, padding widths at most
  ``MAX_SEQUENCE`` and format widths at most ``MAX_FORMAT_WIDTH``. Every operation that builds
  a value from smaller parts — ``%`` and ``str.format``/``format_map`` (estimated field by
  field), ``*``, ``+``, ``~``, ``join``, ``replace``, padding, case mappings, ``split`` and the
  filters that build strings or lists (``format``, ``indent``, ``wordwrap``, ``tojson``,
  ``string``, ``list``, ``batch``, ``slice``, ``sum``, ``urlize``, ``escape``…) — first
  computes an upper bound of its result's size from its inputs' sizes and is refused when that
  passes the limit, so a small template never allocates a large value to find out;
- *output*: rendered text is cut off at ``MAX_TEMPLATE_OUTPUT`` while it streams.

Anything that goes wrong while compiling or evaluating user input — a limit, or whatever
Python or a Jinja filter raises (``AssertionError``, ``OverflowError``, ``RecursionError``,
``UnicodeError``, ``MemoryError``…) — is an ``ExpressionError`` whose message says what.
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
from collections.abc import Callable, ItemsView, Iterator, KeysView, Mapping, ValuesView
from contextvars import ContextVar
from functools import lru_cache
from typing import Any

from django.conf import settings
from jinja2 import ChainableUndefined, TemplateSyntaxError, Undefined, nodes
from jinja2.exceptions import SecurityError, TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment, SandboxedFormatter
from jinja2.utils import Namespace
from jinja2.visitor import NodeTransformer
from markupsafe import Markup, escape

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
#: Keys a template cannot reach by attribute: ``steps.get`` is the dict method, not the node
#: ``get`` (``_Env.getattr`` puts data first for every other key). Flow documents refuse node
#: ids among them.
SHADOWED_KEYS: frozenset[str] = _METHODS[dict]


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


# --- sizes reserved before building ----------------------------------------------------------
#
# One mechanism for every operation that builds a string or a list from smaller parts: an
# estimator computes an upper bound of the size of the result from the sizes of its inputs
# (cheaply, without building anything), and ``_reserve`` refuses the operation when that bound
# passes ``MAX_VALUE_SIZE``. Only then is the result built; ``_made`` still bounds and charges
# what was built. Operations whose result is never larger than their input (``lower`` on ASCII,
# ``truncate``, ``sort``…) need no estimator.


def _reserve(size: int, what: str) -> None:
    """Refuse ``what`` if the value it would build is larger than ``MAX_VALUE_SIZE``."""
    if size > MAX_VALUE_SIZE:
        raise SecurityError(f"{what} would exceed {MAX_VALUE_SIZE} characters and items")


def _quoted_str_bound(text: str) -> int:
    """At most ``len(repr(text))``, ``len(ascii(text))`` and ``len(json.dumps(text))``."""
    if text.isascii() and text.isprintable():
        return len(text) + 2 + text.count("\\") + text.count("'") + text.count('"')
    return (6 if text.isascii() else 10) * len(text) + 2


def _text_bound(value: Any, *, quoted: bool = False, limit: int = MAX_VALUE_SIZE) -> int:
    """An upper bound of ``len(str(value))`` (``quoted``: of ``repr``, ``ascii`` or the JSON
    text), counted only until ``limit`` is passed. Inside lists and dicts strings are quoted."""
    total = 0
    stack: list[tuple[Any, bool]] = [(value, quoted)]
    while stack and total <= limit:
        item, as_repr = stack.pop()
        if isinstance(item, str):
            total += _quoted_str_bound(item) if as_repr else len(item)
        elif item is None or isinstance(item, bool | Undefined):
            total += 9
        elif isinstance(item, int):
            total += item.bit_length() // 3 + 3
        elif isinstance(item, float):
            total += 24
        elif isinstance(item, dict):
            total += 2 + 4 * len(item)
            stack.extend((part, True) for part in itertools.chain(item.keys(), item.values()))
        elif isinstance(item, list | tuple | KeysView | ValuesView | ItemsView):
            total += 20 + 2 * len(item)
            stack.extend((part, True) for part in item)
        elif isinstance(item, Namespace):
            total += 14
            stack.append((dict(item._Namespace__attrs), True))  # type: ignore[attr-defined]
        else:  # ranges, generators, callables, loop objects: a fixed description
            total += 200
    return total


def _number_bound(value: Any, precision: int) -> int:
    """At most the length of ``value`` formatted as a number with ``precision`` (``%f`` of the
    largest float is 309 digits; grouping adds a third)."""
    digits = value.bit_length() // 3 + 1 if isinstance(value, int) else 310
    return digits + digits // 3 + precision + 8


_PERCENT_TAIL = re.compile(
    r"(?P<flags>[-#0 +]*)(?P<width>\*|\d*)(?:\.(?P<precision>\*|\d*))?[hlL]?(?P<type>.?)",
    re.DOTALL,
)


def _check_widths(spec: str) -> None:
    widths = (int(number) for number in re.findall(r"\d+", spec))
    if "*" in spec or "{" in spec or any(width > MAX_FORMAT_WIDTH for width in widths):
        raise SecurityError(f"format widths above {MAX_FORMAT_WIDTH} are not allowed")


def _percent_conversions(fmt: str) -> Iterator[tuple[str | None, str, int, int]]:
    """``(key, type, width, precision)`` of each ``%`` conversion in ``fmt``, as ``str % x``
    reads them (a ``(key)`` may hold balanced parentheses)."""
    position = 0
    while (start := fmt.find("%", position)) >= 0:
        index, key = start + 1, None
        if fmt.startswith("(", index):
            depth, index = 1, index + 1
            while index < len(fmt) and depth:
                depth += {"(": 1, ")": -1}.get(fmt[index], 0)
                index += 1
            key = fmt[start + 2 : index - 1]
        match = _PERCENT_TAIL.match(fmt, index)
        assert match is not None  # every part of the pattern is optional
        _check_widths(fmt[index : match.start("type")])
        width = int(match.group("width") or 0)
        precision = int(match.group("precision") or 6)
        yield key, match.group("type"), width, precision
        position = match.end()


def _percent_bound(fmt: str, values: Any) -> int:
    """An upper bound of ``len(fmt % values)``; checks widths and stops past the limit."""
    positional = values if isinstance(values, tuple) else (values,)
    total, used = len(fmt), 0
    for key, kind, width, precision in _percent_conversions(fmt):
        if kind == "%" and key is None:
            continue
        if key is not None:
            try:
                value = values[key]
            except (TypeError, LookupError):
                continue  # the formatting itself fails
        elif used < len(positional):
            value, used = positional[used], used + 1
        else:
            continue
        if kind == "s":
            size = _text_bound(value)
        elif kind in ("r", "a"):
            size = _text_bound(value, quoted=True)
        elif kind == "c":
            size = 1
        else:
            size = _number_bound(value, precision)
        total += max(width, size)
        if total > MAX_VALUE_SIZE:
            break
    return total


def _format_field_bound(value: Any, spec: str) -> int:
    """An upper bound of ``len(format(value, spec))`` for a spec ``_check_widths`` accepted."""
    numbers = [int(number) for number in re.findall(r"\d+", spec)]
    width = max(numbers, default=0)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return max(width, _number_bound(value, width or 6))
    return max(width, _text_bound(value))


def _repeat_bound(left: Any, right: Any) -> int:
    sequence, count = (left, right) if isinstance(left, str | list | tuple) else (right, left)
    if not isinstance(count, int) or count <= 0:
        return 0
    if isinstance(sequence, list | tuple) and len(sequence) * count > MAX_SEQUENCE:
        raise SecurityError(f"repetition would exceed {MAX_SEQUENCE} items")
    return _size(sequence) * count


def _check_binop(operator_name: str, left: Any, right: Any) -> None:
    """Check, before computing it, that ``left <operator> right`` stays within the limits."""
    if operator_name == "**":
        if isinstance(right, int | float) and abs(right) > MAX_EXPONENT:
            raise SecurityError("exponent too large")
        if (
            isinstance(left, int)
            and isinstance(right, int)
            and right > 0
            and left.bit_length() * right > MAX_INT_BITS
        ):
            raise SecurityError("power too large")
    elif operator_name == "*":
        if isinstance(left, int) and isinstance(right, int):
            if left.bit_length() + right.bit_length() > MAX_INT_BITS:
                raise SecurityError("product too large")
        else:
            _reserve(_repeat_bound(left, right), "repetition")
    elif operator_name == "%":
        if isinstance(left, str):
            _reserve(_percent_bound(left, right), "%-formatting")
    elif isinstance(left, str | list | tuple) and isinstance(right, str | list | tuple):
        _reserve(_size(left) + _size(right), "concatenation")


def _arg(args: tuple[Any, ...], kwargs: dict[str, Any], index: int, name: str) -> Any:
    return args[index] if len(args) > index else kwargs.get(name)


def _int_or(value: Any, default: int) -> int:
    return value if isinstance(value, int) else default


def _check_width(width: Any) -> None:
    if isinstance(width, int) and width > MAX_SEQUENCE:
        raise SecurityError(f"widths above {MAX_SEQUENCE} are not allowed")


def _replace_bound(text: str, old: Any, new: Any, count: Any = -1) -> int:
    if not (isinstance(old, str) and isinstance(new, str)):
        return len(text)
    found = len(text) + 1 if old == "" else text.count(old)
    if isinstance(count, int) and count >= 0:
        found = min(found, count)
    return len(text) + found * max(0, len(new) - len(old))


def _bounded_items(items: Any) -> list[Any]:
    """Materialise an iterable a template joins or lists, refusing one that is too long."""
    listed = list(itertools.islice(_iterate(items), MAX_SEQUENCE + 1))
    if len(listed) > MAX_SEQUENCE:
        raise SecurityError(f"more than {MAX_SEQUENCE} items")
    return listed


def _join_bound(separator: Any, items: Any) -> int:
    gaps = len(separator) * max(len(items) - 1, 0) if isinstance(separator, str) else 0
    if isinstance(items, str):
        return gaps + len(items)
    total = gaps
    for item in items:
        total += _text_bound(item)
        if total > MAX_VALUE_SIZE:
            break
    return total


def _case_bound(text: str) -> int:
    # Unicode case mappings grow a character into at most three ("ﬃ".upper() == "FFI").
    return len(text) if text.isascii() else 3 * len(text)


def _split_bound(text: str, separator: Any, maxsplit: Any) -> int:
    if isinstance(separator, str) and separator:
        parts = text.count(separator)
    else:
        parts = sum(1 for _ in _WORDS.finditer(text))
    if isinstance(maxsplit, int) and maxsplit >= 0:
        parts = min(parts, maxsplit)
    return 2 + parts + len(text)


_WORDS = re.compile(r"\S+")

#: ``(value, args, kwargs) -> upper bound`` of what a filter builds, by filter name (``args``
#: and ``kwargs`` are the filter's own arguments, after the value).
Estimator = Callable[[Any, tuple[Any, ...], dict[str, Any]], int]


def _center_bound(value: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> int:
    width = _arg(args, kwargs, 0, "width")
    _check_width(width)
    return max(len(str(value)), _int_or(width, 0))


def _indent_bound(value: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> int:
    width = _arg(args, kwargs, 0, "width")
    step = len(width) if isinstance(width, str) else _int_or(width, 4)
    text = str(value)
    return len(text) + (text.count("\n") + 1) * max(step, 0)


def _batch_bound(value: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> int:
    count = _arg(args, kwargs, 0, "linecount") if "slices" not in kwargs else kwargs["slices"]
    _check_width(count)
    return 2 * _size(value) + 2 * max(_int_or(count, 0), 0)


def _replace_filter_bound(value: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> int:
    old, new, count = (_arg(args, kwargs, i, n) for i, n in enumerate(("old", "new", "count")))
    return _replace_bound(str(value), old, new, -1 if count is None else count)


def _format_filter_bound(value: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> int:
    return _percent_bound(str(value), kwargs or args)


def _join_filter_bound(value: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> int:
    return _join_bound(_arg(args, kwargs, 0, "d") or "", value)


def _wordwrap_bound(value: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> int:
    text = str(value)
    width = max(_int_or(_arg(args, kwargs, 0, "width"), 79), 1)
    wrapstring = _arg(args, kwargs, 2, "wrapstring")
    joint = len(wrapstring) if isinstance(wrapstring, str) else 2
    return len(text) + (len(text) // width + text.count("\n") + 2) * joint


def _urlize_bound(value: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> int:
    text = str(value)
    extra = sum(len(str(_arg(args, kwargs, i, n) or "")) for i, n in ((2, "target"), (3, "rel")))
    # Escaping grows a character into at most six; each word may become a link of its own.
    return 6 * len(text) + sum(1 for _ in _WORDS.finditer(text)) * (3 * extra + 100)


def _escape_bound(value: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> int:
    return 6 * _text_bound(value)


def _urlencode_bound(value: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> int:
    return 12 * _text_bound(value)  # "%XX" for each of up to four UTF-8 bytes


def _string_bound(value: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> int:
    return _text_bound(value)


def _tojson_bound(value: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> int:
    return _text_bound(value, quoted=True)


def _xmlattr_bound(value: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> int:
    return 6 * _text_bound(value) + 4 * _size(value)


def _list_bound(value: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> int:
    return 1 + 2 * len(value) if isinstance(value, str) else _size(value)


def _sum_bound(value: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> int:
    start = _arg(args, kwargs, 1, "start")
    if not isinstance(start, str | list | tuple):
        return 0
    return _size(start) + sum(_size(item) for item in value)


def _case_filter_bound(value: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> int:
    return _case_bound(str(value))


_FILTER_BOUNDS: dict[str, Estimator] = {
    "batch": _batch_bound,
    "capitalize": _case_filter_bound,
    "center": _center_bound,
    "e": _escape_bound,
    "escape": _escape_bound,
    "forceescape": _escape_bound,
    "format": _format_filter_bound,
    "indent": _indent_bound,
    "join": _join_filter_bound,
    "list": _list_bound,
    "lower": _case_filter_bound,
    "replace": _replace_filter_bound,
    "slice": _batch_bound,
    "string": _string_bound,
    "sum": _sum_bound,
    "title": _case_filter_bound,
    "tojson": _tojson_bound,
    "upper": _case_filter_bound,
    "urlencode": _urlencode_bound,
    "urlize": _urlize_bound,
    "wordwrap": _wordwrap_bound,
    "xmlattr": _xmlattr_bound,
}
#: Filters whose input is materialised (bounded) first: they iterate it more than once, or
#: build a list of it.
_MATERIALISED = frozenset({"join", "list", "sum", "batch", "slice"})
#: Filters left out of the environment: ``pprint``'s indentation grows with nesting, so its
#: size has no cheap bound (``tojson`` shows the same data).
_REMOVED_FILTERS = frozenset({"pprint"})


def _padding_method_bound(owner: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> int:
    width = _arg(args, kwargs, 0, "width")
    _check_width(width)
    return max(len(owner), _int_or(width, 0))


def _replace_method_bound(owner: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> int:
    return _replace_bound(owner, *args[:3])


def _join_method_bound(owner: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> int:
    return _join_bound(owner, args[0] if args else [])


def _split_method_bound(owner: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> int:
    return _split_bound(owner, _arg(args, kwargs, 0, "sep"), _arg(args, kwargs, 1, "maxsplit"))


def _splitlines_bound(owner: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> int:
    return 2 + owner.count("\n") + owner.count("\r") + len(owner)


def _case_method_bound(owner: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> int:
    return _case_bound(owner)


#: The same for the ``str`` methods a template may call, by method name.
_METHOD_BOUNDS: dict[str, Callable[[str, tuple[Any, ...], dict[str, Any]], int]] = {
    **dict.fromkeys(("center", "ljust", "rjust", "zfill"), _padding_method_bound),
    **dict.fromkeys(
        ("capitalize", "casefold", "lower", "swapcase", "title", "upper"), _case_method_bound
    ),
    "join": _join_method_bound,
    "replace": _replace_method_bound,
    "rsplit": _split_method_bound,
    "split": _split_method_bound,
    "splitlines": _splitlines_bound,
}


def _bounded_filter(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a Jinja filter or test: charge for its input, reserve the size of what it would
    build (``_FILTER_BOUNDS``) before calling it, and bound what it built. Keeps Jinja's
    ``pass_context``-style markers (copied by ``wraps``)."""
    offset = 1 if getattr(func, "jinja_pass_arg", None) is not None else 0
    estimate = _FILTER_BOUNDS.get(name)

    @functools.wraps(func)
    def bounded(*args: Any, **kwargs: Any) -> Any:
        value = args[offset] if len(args) > offset else None
        _charge(1 + (len(value) if isinstance(value, str | list | tuple | dict | range) else 0))
        if name in _MATERIALISED and len(args) > offset and not isinstance(value, str):
            value = _bounded_items(value)
            args = (*args[:offset], value, *args[offset + 1 :])
        if estimate is not None and len(args) > offset:
            _reserve(estimate(value, args[offset + 1 :], kwargs), f"the filter {name!r}")
        result = func(*args, **kwargs)
        if result is not value:
            _made(result)
        return result

    return bounded


def _bounded_test(func: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a Jinja test: charge for its input (a test builds nothing)."""

    @functools.wraps(func)
    def bounded(*args: Any, **kwargs: Any) -> Any:
        value = args[0] if args else None
        _charge(1 + (len(value) if isinstance(value, str | list | tuple | dict | range) else 0))
        return func(*args, **kwargs)

    return bounded


# --- loop iteration, literals and ``~`` (rewritten into calls at compile time) --------------------
def _iterate(iterable: Any) -> Iterator[Any]:
    for item in iterable:
        _charge()
        yield item


def _concat(*parts: Any) -> str:
    _reserve(sum(_text_bound(part) for part in parts), "concatenation with '~'")
    return _made("".join(str(part) for part in parts))  # type: ignore[no-any-return]


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
        return super().getattr(obj, attribute)

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        """``str.format`` and ``format_map`` through ``_BoundedFormatter`` (Jinja's sandboxed
        lookups, plus the size reserved field by field); widths are checked first."""
        if not (
            isinstance(value, types.MethodType | types.BuiltinMethodType)
            and value.__name__ in ("format", "format_map")
            and isinstance(value.__self__, str)
        ):
            return None
        fmt: str = value.__self__
        for _, field, spec, _ in string.Formatter().parse(fmt):
            if field is not None and spec:
                _check_widths(spec)
        is_map = value.__name__ == "format_map"

        def bounded_format(*args: Any, **kwargs: Any) -> str:
            if is_map:
                if kwargs or len(args) != 1:
                    raise TypeError("format_map() takes exactly one argument")
                kwargs = args[0]
                args = ()
            formatter = _BoundedFormatter(self, fmt)
            result = formatter.vformat(fmt, args, kwargs)
            return type(fmt)(result) if isinstance(fmt, Markup) else result

        return functools.update_wrapper(bounded_format, value)

    def getitem(self, obj: Any, argument: Any) -> Any:
        _charge()
        return super().getitem(obj, argument)

    def call(self, context: Any, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
        _charge()
        owner = getattr(obj, "__self__", None)
        if isinstance(owner, str) and isinstance(obj, types.BuiltinMethodType):
            name = obj.__name__
            if name == "join" and args:
                args = (_bounded_items(args[0]), *args[1:])
            estimate = _METHOD_BOUNDS.get(name)
            if estimate is not None:
                _reserve(estimate(owner, args, kwargs), f"str.{name}")
        result = super().call(context, obj, *args, **kwargs)
        if not any(result is arg for arg in args):
            _made(result)
        return result

    def call_binop(self, context: Any, operator_name: str, left: Any, right: Any) -> Any:
        _charge()
        _check_binop(operator_name, left, right)
        return _made(super().call_binop(context, operator_name, left, right))


class _BoundedFormatter(SandboxedFormatter):
    """``str.format`` for templates: fields are looked up through the sandbox, and each field's
    formatted size is reserved (added to a running total that starts at the format string's
    length) before the field is formatted."""

    def __init__(self, env: _Env, fmt: str) -> None:
        super().__init__(env)
        self._escape = isinstance(fmt, Markup)
        self._total = len(fmt)

    def convert_field(self, value: Any, conversion: str | None) -> Any:
        if conversion in ("r", "a"):
            _reserve(self._total + _text_bound(value, quoted=True), "str.format")
        return super().convert_field(value, conversion)

    def format_field(self, value: Any, format_spec: str) -> Any:
        _charge()
        size = _format_field_bound(value, format_spec)
        self._total += 6 * size if self._escape else size
        _reserve(self._total, "str.format")
        formatted = super().format_field(value, format_spec)
        return escape(formatted) if self._escape else formatted


def _tojson(value: Any) -> str:
    return json.dumps(value, default=str, ensure_ascii=False)


@lru_cache(maxsize=1)
def environment() -> _Env:
    env = _Env(undefined=ChainableUndefined, autoescape=False)
    env.filters["tojson"] = _tojson
    env.filters = {
        name: _bounded_filter(name, func)
        for name, func in env.filters.items()
        if name not in _REMOVED_FILTERS
    }
    env.tests = {name: _bounded_test(test) for name, test in env.tests.items()}  # type: ignore[arg-type]
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
