"""Upper bounds of the size of what an operation would build, computed before building it.

One mechanism for every operation that builds a string or a list from smaller parts: an
estimator computes an upper bound of the size of the result from the sizes of its inputs
(cheaply, without building anything), and ``_reserve`` refuses the operation when that bound
passes ``MAX_VALUE_SIZE``. Only then is the result built; ``_made`` still bounds and charges
what was built. Operations whose result is never larger than their input (``lower`` on ASCII,
``truncate``, ``sort``…) need no estimator.

Owns the text, number, ``%``-format and ``str.format`` field bounds, the width checks, and the
check of binary operators (``*``, ``**``, ``+``, ``%``) before they are computed; the
per-filter and per-method estimators built from these live in ``filters``.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import ItemsView, Iterator, KeysView, ValuesView
from typing import Any

from jinja2 import Undefined
from jinja2.exceptions import SecurityError
from jinja2.utils import Namespace

from controlroom.expressions.limits import (
    MAX_EXPONENT,
    MAX_FORMAT_WIDTH,
    MAX_INT_BITS,
    MAX_SEQUENCE,
    MAX_VALUE_SIZE,
    _reserve,
    _size,
)


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
            stack.append((dict(item._Namespace__attrs), True))
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
