"""``transform``: reshape data with a JMESPath expression. Inline.

``expression`` is a JMESPath query (https://jmespath.org), e.g.
``items[?price > `10`].{sku: sku, price: price}`` or ``sort_by(orders, &created)[-1].id``. It
reads ``input``: a template (``{{ steps.fetch.output }}``), or, when omitted, the previous
step's output. The step's output is the query's result (``null`` when nothing matches).

JMESPath is a query language, not code: it cannot call out, import or loop without end. What
it can do is build values that share parts (``[@, @] | [@, @] | …`` doubles at each pipe), so
every evaluation is bounded like a template's (``controlroom.expressions``): at most
``MAX_WORK`` units of work (each node of the expression visited, and the size of each value
it builds), ``MAX_SECONDS`` of wall time, and no built value over ``MAX_VALUE_SIZE``
characters and items. Going past a bound, a type error (``length(`1`)``) or a result that is
not JSON data fails the step (class ``domain``).

Design time: the expression must parse, and the functions it calls must exist and be given
as many arguments as they take; each problem points at ``config/expression``.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, cast

import jmespath
from jmespath import exceptions as jmespath_errors
from jmespath import functions as jmespath_functions
from jmespath.parser import ParsedResult
from jmespath.visitor import TreeInterpreter

from controlroom import jsondata
from controlroom.expressions import MAX_SECONDS, MAX_VALUE_SIZE, MAX_WORK
from controlroom.expressions.limits import value_size
from flows.engine.nodes.base import ConfigProblem, DomainError, Done, NodeContext, NodeType
from flows.engine.nodes.schema import object_schema

if TYPE_CHECKING:
    # A syntax tree node as ``types-jmespath`` types it (a stub-only name).
    from jmespath.visitor import _TreeNode

MAX_EXPRESSION = 2000
#: The node types of a JMESPath syntax tree whose result is a value it built (not a part of
#: its input): their results are measured and bounded.
_BUILDERS = frozenset(
    {
        "multi_select_list",
        "multi_select_dict",
        "projection",
        "value_projection",
        "filter_projection",
        "flatten",
        "function_expression",
    }
)
_FUNCTIONS = jmespath_functions.Functions().FUNCTION_TABLE
# What evaluating a valid query on data can raise besides JMESPath's own errors.
_EVALUATION_ERRORS = (jmespath_errors.JMESPathError, TypeError, ValueError, RecursionError)


class TransformNode(NodeType):
    type = "transform"
    title = "Transform"
    description = "Reshape data with a JMESPath query: pick, filter, sort or rename fields."
    schema = object_schema(
        {
            "expression": {
                "type": "string",
                "minLength": 1,
                "maxLength": MAX_EXPRESSION,
                "title": "JMESPath query",
                "description": "What to keep and how to shape it, e.g. "
                "orders[?status == 'open'].{id: id, total: total}.",
            },
            "input": {
                "type": "string",
                "format": "template",
                "minLength": 1,
                "title": "Data to reshape",
                "description": "A template, e.g. {{ steps.fetch.output }} (default: the "
                "previous step's output).",
            },
        },
        required=["expression"],
    )

    def config_problems(self, config: dict[str, Any]) -> list[ConfigProblem]:
        message = expression_problem(config["expression"])
        return [(["expression"], message)] if message else []

    def run(self, ctx: NodeContext) -> Done:
        if "input" in ctx.config:
            data = ctx.render(ctx.config["input"])
        else:
            data = ctx.variables.get("previous")
        return Done(output=transform(ctx.config["expression"], data))


def expression_problem(expression: str) -> str | None:
    """Why ``expression`` cannot run, in words, or None: a syntax error (with the column), an
    unknown function, or a function given the wrong number of arguments."""
    try:
        parsed = jmespath.compile(expression)
    except jmespath_errors.JMESPathError as exc:
        return _syntax_message(exc)
    except RecursionError:
        return "the JMESPath query is nested too deeply"
    for node in _walk(parsed.parsed):
        if node["type"] == "function_expression":
            message = _call_problem(str(node["value"]), len(node["children"]))
            if message:
                return message
    return None


def transform(expression: str, data: Any) -> Any:
    """The result of the JMESPath ``expression`` on ``data``, within the bounds the module
    states; ``DomainError`` saying what went wrong otherwise."""
    try:
        parsed: ParsedResult = jmespath.compile(expression)
        result = _BoundedInterpreter().visit(parsed.parsed, data)
    except _EVALUATION_ERRORS as exc:
        raise DomainError(f"transform {expression!r} failed: {_plain(exc)}") from exc
    problem = jsondata.first_problem(
        result, max_values=MAX_VALUE_SIZE, max_depth=jsondata.MAX_DEPTH
    )
    if problem is not None:
        raise DomainError(f"transform {expression!r} gave no JSON data: {problem[1]}")
    return result


class _BoundedInterpreter(TreeInterpreter):
    """JMESPath's interpreter, charging each node it visits and the size of each value a
    node builds to a budget, so a small query cannot make a worker spin or fill its memory."""

    def __init__(self) -> None:
        super().__init__()
        self._left = MAX_WORK
        self._deadline = time.monotonic() + MAX_SECONDS

    def visit(self, node: _TreeNode, *args: Any, **kwargs: Any) -> Any:
        self._charge(1)
        result = super().visit(node, *args, **kwargs)
        if node["type"] in _BUILDERS and isinstance(result, str | list | dict):
            size = value_size(result)
            if size > MAX_VALUE_SIZE:
                raise jmespath_errors.JMESPathError(
                    f"a value it builds exceeds {MAX_VALUE_SIZE} characters and items"
                )
            self._charge(size)
        return result

    def _charge(self, units: int) -> None:
        self._left -= units
        if self._left < 0:
            raise jmespath_errors.JMESPathError(f"it does too much work (over {MAX_WORK} units)")
        if time.monotonic() > self._deadline:
            raise jmespath_errors.JMESPathError(f"it took longer than {MAX_SECONDS} seconds")


def _walk(node: _TreeNode) -> list[_TreeNode]:
    """Every node of a parsed JMESPath tree, depth first (a slice's children are its numbers,
    not nodes)."""
    found: list[_TreeNode] = []
    stack: list[Any] = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            found.append(cast("_TreeNode", item))
            stack.extend(reversed(item.get("children") or []))
    return found


def _call_problem(name: str, given: int) -> str | None:
    function = _FUNCTIONS.get(name)
    if function is None:
        known = ", ".join(sorted(_FUNCTIONS))
        return f"unknown JMESPath function {name}() (known: {known})"
    signature = function["signature"]
    variadic = bool(signature) and bool(signature[-1].get("variadic"))
    needed = len(signature)
    if (variadic and given < needed) or (not variadic and given != needed):
        at_least = "at least " if variadic else ""
        plural = "s" if needed != 1 else ""
        return f"{name}() takes {at_least}{needed} argument{plural}, given {given}"
    return None


def _syntax_message(exc: jmespath_errors.JMESPathError) -> str:
    """A parse or lexer error as one line: what is wrong and at which column (1-based)."""
    position = getattr(exc, "lex_position", None)
    where = f" at column {position + 1}" if isinstance(position, int) else ""
    token = getattr(exc, "token_value", None)
    if isinstance(exc, jmespath_errors.IncompleteExpressionError):
        reason = "the query ends before it is complete"
    elif isinstance(exc, jmespath_errors.LexerError):
        reason = str(exc.message)
    elif token is not None:
        reason = f"unexpected {token!r}"
    else:
        reason = _plain(exc)
    return f"not a valid JMESPath query{where}: {reason}"


def _plain(exc: BaseException) -> str:
    """The error's own message, without JMESPath's multi-line caret drawing."""
    message = getattr(exc, "msg", None) or getattr(exc, "message", None) or str(exc)
    return " ".join(str(message).split("\n")[0].split()) or type(exc).__name__


NODE = TransformNode()
