"""The sandboxed expression engine: templates and conditions keep to the data they are given,
fail with ``ExpressionError`` (never hang, never crash the caller), and keep native types."""

from __future__ import annotations

import time
from typing import Any

import pytest

from controlroom.expressions import (
    ExpressionError,
    check_condition,
    check_template,
    evaluate,
    render,
    render_value,
    step_references,
)

CONTEXT: dict[str, Any] = {
    "input": {"email": "ada@example.com", "tags": ["a", "b"], "copy": "the field", "n": 7},
    "steps": {
        "match": {
            "output": [
                {"sku": "A1", "match": True, "difference": 0},
                {"sku": "B2", "match": False, "difference": 12.5},
                {"sku": "C3", "match": False, "difference": -3},
            ]
        }
    },
}

ESCAPES = [
    "''.__class__.__mro__",
    "''.__class__.__mro__[1].__subclasses__()",
    "cycler.__init__.__globals__",
    "joiner.__init__.__globals__",
    "namespace.__init__.__globals__",
    "self",
    "self.__init__.__globals__",
    "self._TemplateReference__context",
    "input.__class__",
    "input['__class__']",
    "input.items.__self__",
    "(1).__class__.__base__",
    "dict.mro()",
    "range.__globals__",
]


@pytest.mark.parametrize("expression", ESCAPES)
def test_attribute_escapes_fail_loudly_in_every_form(expression: str) -> None:
    for source in ("{{ " + expression + " }}", "text {{ " + expression + " }}"):
        with pytest.raises(ExpressionError):
            render(source, CONTEXT)
    with pytest.raises(ExpressionError):
        evaluate(expression + " is defined", CONTEXT)


@pytest.mark.parametrize(
    "source",
    [
        "{% include '/etc/passwd' %}",
        "{% import 'os' as os %}{{ os }}",
        "{% extends 'base.html' %}",
        "{% from 'x' import y %}",
    ],
)
def test_templates_cannot_load_other_templates_or_modules(source: str) -> None:
    with pytest.raises(ExpressionError):
        render(source, CONTEXT)


def test_self_is_refused_when_a_template_is_checked() -> None:
    with pytest.raises(ExpressionError, match="'self' is not available"):
        check_template("Hello {{ self }}")


def test_templates_cannot_change_the_data_they_read() -> None:
    data = {"input": {"tags": ["a"], "meta": {"k": 1}}}
    for source in (
        "{{ input.tags.append('x') }}",
        "{{ input.tags.extend(input.tags) }}",
        "{{ input.meta.update({'k': 2}) }}",
        "{{ input.meta.pop('k') }}",
        "{{ input.meta.clear() }}",
    ):
        with pytest.raises(ExpressionError):
            render(source, data)
    assert data == {"input": {"tags": ["a"], "meta": {"k": 1}}}


BOMBS = [
    "{{ range(10**9) }}",
    "{% for i in range(10**9) %}{% endfor %}",
    "{{ 'a' * 10**9 }}",
    "{{ 10**9 * 'a' }}",
    "{{ [1] * 10**9 }}",
    "{{ ['a' * 50000] * 50000 }}",
    "{{ 2 ** (10 ** 9) }}",
    "{{ (10 ** 60) ** 60 }}",
    "{% set ns = namespace(x=10**64) %}{% for i in range(30) %}{% set ns.x = ns.x * ns.x %}"
    "{% endfor %}{{ ns.x }}",
    "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
    "{% set xs = [0] * 100000 %}{% for x in xs %}{{ xs | sum }}{% endfor %}",
    "{% set xs = [0] * 100000 %}{% for x in xs if 5 in xs %}{% endfor %}",
    "{% for x in [1] recursive %}{{ loop([1]) }}{% endfor %}",
    "{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}",
    "{% macro f(n) %}{% if n %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(60) }}",
    "{% macro d(s, n) %}{% if n %}{{ d(s ~ s, n - 1) }}{% endif %}{% endmacro %}{{ d('ab', 60) }}",
    "{% set ns = namespace(s='ab') %}{% for i in range(60) %}{% set ns.s = ns.s ~ ns.s %}"
    "{% endfor %}{{ ns.s | length }}",
    "{% set ns = namespace(s=[1]) %}{% for i in range(60) %}{% set ns.s = ns.s + ns.s %}"
    "{% endfor %}{{ ns.s | length }}",
    "{{ 'a'.ljust(10**9) }}",
    "{{ 'a'.zfill(10**9) }}",
    "{{ 'a' | center(10**9) }}",
    "{{ 'a' | indent(10**9) }}",
    "{{ 'abc' | batch(10**9) | list }}",
    "{{ 'abc' | slice(10**9) | list }}",
    "{{ '{:>1000000000}'.format('a') }}",
    "{{ '{:>{}}'.format('a', 10**9) }}",
    "{{ '%0*d' % (10**9, 1) }}",
    "{{ '%01000000000d' % 1 }}",
    "{{ '%01000000000d' | format(1) }}",
    "{{ ('a' * 100000).replace('a', 'aaaaaaaaaaaaaaaa') }}",
    "{{ ('a' * 100000) | replace('a', 'aaaaaaaaaaaaaaaa') }}",
    "{% set s = 'a' * 100000 %}{{ [s, s, s, s, s, s, s, s, s, s, s] | join }}",
    "{% set s = 'a' * 100000 %}{{ ''.join([s, s, s, s, s, s, s, s, s, s, s]) }}",
    "{% set s = 'a' * 100000 %}{{ [s, s, s, s, s, s, s, s, s, s, s] | tojson }}",
    "{% set s = 'a' * 100000 %}x{{ [s, s, s, s, s, s, s, s, s, s, s] }}",
    "{% set s = 'a' * 100000 %}x{{ {'a': s, 'b': s, 'c': s, 'd': s, 'e': s, 'f': s, 'g': s,"
    " 'h': s, 'i': s, 'j': s, 'k': s} }}",
    "{{ 'abc'.translate({97: 'x' * 100000}) }}",
    "{{ 'abc'.encode() }}",
    "{{ lipsum(n=100000) }}",
]


@pytest.mark.parametrize("source", BOMBS)
def test_resource_bombs_fail_fast_with_an_expression_error(source: str) -> None:
    started = time.monotonic()
    with pytest.raises(ExpressionError):
        render(source, CONTEXT)
    assert time.monotonic() - started < 10


@pytest.mark.parametrize(
    "source",
    [
        "{% for i in range(100000) %}0123456789{% endfor %}",
        "{{ 'x' * 60000 }}{{ 'y' * 60000 }}",
        "{% for i in range(20) %}{{ 'x' * 6000 }}{% endfor %}",
        "{% for i in range(100) %}{{ input | tojson }}{{ 'z' * 5000 }}{% endfor %}",
    ],
)
def test_huge_rendered_output_is_refused(source: str) -> None:
    with pytest.raises(ExpressionError, match="exceeds"):
        render(source, CONTEXT)


def test_a_render_after_a_refused_one_has_its_own_budget() -> None:
    with pytest.raises(ExpressionError):
        render(
            "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
            CONTEXT,
        )
    assert render("{% for i in range(1000) %}{% endfor %}done", CONTEXT) == "done"


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("{{ input.tags }}", ["a", "b"]),
        ("  {{ input.tags }}\n", ["a", "b"]),
        ("{{ input }}", CONTEXT["input"]),
        ("{{ input.n }}", 7),
        ("{{ input.n / 2 }}", 3.5),
        ("{{ input.n > 3 }}", True),
        ("{{ input.missing }}", None),
        ("{{ input.missing.deeper.still }}", None),
        ("{{ (1, 2) }}", [1, 2]),
        ("{{ range(3) }}", [0, 1, 2]),
        (
            "{{ steps.match.output | rejectattr('match') | map(attribute='sku') }}",
            ["B2", "C3"],
        ),
        ("{{ {'score': input.n, 'tags': input.tags} }}", {"score": 7, "tags": ["a", "b"]}),
        ("{{ {1: 'one'} }}", {"1": "one"}),
    ],
)
def test_a_single_expression_keeps_its_native_type(source: str, expected: Any) -> None:
    assert render(source, CONTEXT) == expected


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("tags: {{ input.tags }}", "tags: ['a', 'b']"),
        ("{{ input.n }}{{ input.n }}", "77"),
        ("{{ input.missing }}!", "!"),
        ("Hi {{ input.email }}", "Hi ada@example.com"),
    ],
)
def test_anything_else_renders_to_text(source: str, expected: str) -> None:
    assert render(source, CONTEXT) == expected


@pytest.mark.parametrize(
    "source", ["{{ cycler }}", "{{ input.items }}", "{{ 1e308 * 10 }}", "{{ namespace() }}"]
)
def test_a_single_expression_that_is_not_json_data_is_refused(source: str) -> None:
    with pytest.raises(ExpressionError):
        render(source, CONTEXT)


def test_ordinary_templates_keep_working() -> None:
    source = (
        "{{ steps.match.output | selectattr('match', 'equalto', false) | list | length }} of "
        "{{ steps.match.output | length }} differ ("
        "{% for line in steps.match.output if not line.match %}{{ line.sku }}: "
        "{{ '%.1f' % line.difference }}{% if not loop.last %}, {% endif %}{% endfor %}); "
        "{{ '{:>4}'.format(input.n) }} {{ input.email.split('@')[1] | upper }} "
        "{{ dict(a=1) | tojson }} {{ input.tags | join('+') }} {{ (2 ** 10) | round(1) }} "
        "{% set ns = namespace(total=0) %}{% for x in range(5) %}{% set ns.total = ns.total + x %}"
        "{% endfor %}{{ ns.total }} {{ input.get('n') }} {{ input.copy }}"
    )
    assert render(source, CONTEXT) == (
        '2 of 3 differ (B2: 12.5, C3: -3.0);    7 EXAMPLE.COM {"a": 1} a+b 1024 10 7 the field'
    )


def test_render_value_renders_every_string_inside() -> None:
    value = {"to": "{{ input.email }}", "tags": ["{{ input.tags }}", "plain"], "n": 3}
    assert render_value(value, CONTEXT) == {
        "to": "ada@example.com",
        "tags": [["a", "b"], "plain"],
        "n": 3,
    }


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ("input.n >= 7", True),
        ("input.n > 7", False),
        ("'a' in input.tags", True),
        ("steps.match.output | selectattr('match') | list | length == 1", True),
        ("input.missing", False),
        ("input.missing.deeper is not defined", True),
    ],
)
def test_conditions_evaluate_to_booleans(condition: str, expected: bool) -> None:
    assert evaluate(condition, CONTEXT) is expected


@pytest.mark.parametrize("condition", ["1 / 0", "input.n + 'x'", "input.n(", "range(10**9)"])
def test_a_failing_condition_is_an_expression_error(condition: str) -> None:
    with pytest.raises(ExpressionError):
        evaluate(condition, CONTEXT)


@pytest.mark.parametrize("condition", ["{{ input.n > 3 }}", "{% if x %}1{% endif %}"])
def test_conditions_with_template_braces_are_refused(condition: str) -> None:
    with pytest.raises(ExpressionError, match="bare expression"):
        check_condition(condition)


@pytest.mark.parametrize("condition", ["input.n >", "input.n ==== 3", ")"])
def test_condition_syntax_errors_are_reported(condition: str) -> None:
    with pytest.raises(ExpressionError, match="condition syntax error"):
        check_condition(condition)


@pytest.mark.parametrize("source", ["{{ input.n ", "{% if %}", "{% endfor %}", "{{ }}"])
def test_template_syntax_errors_are_reported(source: str) -> None:
    with pytest.raises(ExpressionError, match="template syntax error"):
        check_template(source)


def test_step_references_finds_attribute_and_item_access() -> None:
    template = (
        "{{ steps.x.output }} {{ steps['y'].output }} {% if steps.z %}{% endif %} "
        "{{ steps[name] }} {{ other.w }} {{ input.steps }}"
    )
    assert sorted(step_references(template, is_condition=False)) == ["x", "y", "z"]
    assert sorted(
        step_references("steps.a.output.score >= 70 and steps['b'] is defined", is_condition=True)
    ) == ["a", "b"]


def test_step_references_of_unparseable_source_is_empty() -> None:
    assert list(step_references("{{ steps.x", is_condition=False)) == []
    assert list(step_references("steps.x >", is_condition=True)) == []


# --- sizes reserved before building (issue 14) ---------------------------------------------------


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        (
            "{{ '%s-%05d-%.2f-%r-%c-%%-%x' % ('a', 42, 3.14159, 'q', 65, 255) }}",
            "a-00042-3.14-'q'-A-%-ff",
        ),
        ("{{ '%(a)s/%(b)r/%(a)10s' % {'a': 'x', 'b': [1, 'y']} }}", "x/[1, 'y']/         x"),
        ("{{ '%s' % [1, 'two', {'three': 3.0}] }}", "[1, 'two', {'three': 3.0}]"),
        ("{{ '{0}:{1!r}:{k:>6}:{0:.3}'.format('abcdef', 'b', k=12) }}", "abcdef:'b':    12:abc"),
        ("{{ '{a[0]}{b.c}'.format_map({'a': [7], 'b': {'c': 'd'}}) }}", "7d"),
        ("{{ '%s'|format('x') ~ ('-%s-'|format(1)) }}", "x-1-"),
        ("{{ 'ß'.upper() ~ ('ab'|upper) }}", "SSAB"),
        ("{{ 'a b  c'.split() ~ 'a,b'.split(',') }}", "['a', 'b', 'c']['a', 'b']"),
        ("{{ [1, 2]|join(', ') }}", "1, 2"),
    ],
)
def test_formatting_and_building_give_what_python_gives(source: str, expected: str) -> None:
    assert render("> " + source, {}) == "> " + expected


@pytest.mark.parametrize(
    "source",
    [
        "{{ (('%(a)s' * 10000) % {'a': 'x' * 99999})|length }}",
        "{{ ('{0}' * 10000).format('x' * 99999)|length }}",
        "{{ ('x' * 99999)|wordwrap(1, wrapstring='y' * 1000) }}",
        "{{ ('<' * 999999)|e }}",
    ],
)
def test_a_value_over_the_limit_is_refused_before_it_is_built(source: str) -> None:
    started = time.monotonic()
    with pytest.raises(ExpressionError, match="would exceed 1000000 characters and items"):
        render(source, {})
    assert time.monotonic() - started < 1.0


@pytest.mark.parametrize("check", [check_template, check_condition])
def test_an_expression_too_nested_to_compile_is_an_expression_error(
    check: Any,
) -> None:
    nested = "(" * 1000 + "1" + ")" * 1000
    source = "{{ " + nested + " }}" if check is check_template else nested
    with pytest.raises(ExpressionError, match="nested too deeply"):
        check(source)
    assert list(step_references(source, is_condition=check is check_condition)) == []


def test_a_failing_jinja_assertion_is_an_expression_error() -> None:
    with pytest.raises(ExpressionError, match="expected length >= 3"):
        render("{{ 'x'|truncate(-1) }}", {})
