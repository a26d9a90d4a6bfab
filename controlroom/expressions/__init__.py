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

The package, by concern: ``limits`` (the limits, ``ExpressionError`` and the work budget),
``bounds`` (sizes estimated before a value is built), ``filters`` (Jinja's filters, tests and
``str`` methods wrapped to stay within the limits), ``sandbox`` (the environment) and
``rendering`` (the public API, re-exported here).
"""

from controlroom.expressions.filters import Estimator
from controlroom.expressions.limits import (
    MAX_EXPONENT,
    MAX_FORMAT_WIDTH,
    MAX_INT_BITS,
    MAX_SECONDS,
    MAX_SEQUENCE,
    MAX_VALUE_SIZE,
    MAX_WORK,
    ExpressionError,
)
from controlroom.expressions.rendering import (
    check_condition,
    check_template,
    evaluate,
    render,
    render_value,
    step_references,
)
from controlroom.expressions.sandbox import SHADOWED_KEYS, environment

__all__ = [
    "MAX_EXPONENT",
    "MAX_FORMAT_WIDTH",
    "MAX_INT_BITS",
    "MAX_SECONDS",
    "MAX_SEQUENCE",
    "MAX_VALUE_SIZE",
    "MAX_WORK",
    "SHADOWED_KEYS",
    "Estimator",
    "ExpressionError",
    "check_condition",
    "check_template",
    "environment",
    "evaluate",
    "render",
    "render_value",
    "step_references",
]
