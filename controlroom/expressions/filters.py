"""Jinja's filters and tests, and ``str`` methods, wrapped to stay within the limits.

Owns the size estimators by filter name (``_FILTER_BOUNDS``) and by ``str`` method name
(``_METHOD_BOUNDS``), which filters are materialised first or left out, and the wrappers
(``_bounded_filter``, ``_bounded_test``) that charge for a filter's input, reserve the size of
its result before calling it and bound what it built. The environment installs them.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from controlroom.expressions.bounds import (
    _WORDS,
    _arg,
    _case_bound,
    _check_width,
    _int_or,
    _join_bound,
    _percent_bound,
    _replace_bound,
    _split_bound,
    _text_bound,
)
from controlroom.expressions.limits import _bounded_items, _charge, _made, _reserve, _size

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
