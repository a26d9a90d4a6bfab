"""The sandboxed Jinja environment that every flow template and condition is compiled in.

Owns which methods of plain data a template may call (``_METHODS``, and so ``SHADOWED_KEYS``),
the compile-time rewrite (``_Bound``) that routes loops, literals and ``~`` through the budget
and refuses ``self`` and recursive loops, the environment itself (``_Env``: data before
methods on attribute lookup, every lookup, call and operator charged and bounded, ``str.format``
through ``_BoundedFormatter``), and ``environment()``, the one shared instance with the bounded
filters and tests installed.
"""

from __future__ import annotations

import functools
import json
import string
import types
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from jinja2 import ChainableUndefined, TemplateSyntaxError, Undefined, nodes
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment, SandboxedFormatter
from jinja2.visitor import NodeTransformer
from markupsafe import Markup, escape

from controlroom.expressions.bounds import (
    _check_binop,
    _check_widths,
    _format_field_bound,
    _text_bound,
)
from controlroom.expressions.filters import (
    _METHOD_BOUNDS,
    _REMOVED_FILTERS,
    _bounded_filter,
    _bounded_test,
)
from controlroom.expressions.limits import (
    _bounded_items,
    _charge,
    _iterate,
    _made,
    _reserve,
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


# --- literals and ``~`` (rewritten into calls at compile time, as loops are into ``_iterate``) ---
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
        return super()._generate(source, name, filename, defer_init=defer_init)

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
