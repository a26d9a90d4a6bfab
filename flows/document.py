"""The ``controlroom.flow/v1`` document: parse, validate with precise errors, export.

Every problem is reported as ``{"pointer": <JSON pointer>, "message": ...}`` so the API, the
editor and the CLI can pin it to the node or edge it concerns. Validation never executes
anything a document contains.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import jsonschema
import yaml
from django.conf import settings

from agents import tools
from controlroom import expressions, jsondata
from flows import graph as graphs
from flows.document_schema import DOCUMENT_SCHEMA
from flows.engine.nodes import REGISTRY
from flows.engine.nodes.base import Known, NodeType
from flows.triggers.config import trigger_problems


@dataclass(frozen=True)
class Problem:
    pointer: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"pointer": self.pointer, "message": self.message}


class InvalidDocument(Exception):
    def __init__(
        self, problems: list[Problem], message: str = "the flow document is invalid"
    ) -> None:
        super().__init__(message)
        self.message = message
        self.problems = problems

    def __str__(self) -> str:
        listed = "; ".join(f"{p.pointer or '/'}: {p.message}" for p in self.problems[:10])
        return f"{self.message}: {listed}" if listed else self.message


def _limits() -> tuple[int, int]:
    return int(settings.CONTROLROOM["MAX_DOCUMENT_BYTES"]), int(settings.CONTROLROOM["MAX_NODES"])


MAX_DEPTH = jsondata.MAX_DEPTH


def _not_json_data(data: Any, max_values: int) -> Problem | None:
    """The first value JSON cannot hold (YAML may give dates, bytes, sets, non-string keys;
    aliases can expand a small file into a huge or cyclic value; NUL and NaN are refused by
    PostgreSQL), else None."""
    found = jsondata.first_problem(data, max_values=max_values, max_depth=MAX_DEPTH)
    if found is None:
        return None
    path, message = found
    return Problem(_pointer(path), message if path else f"the document has {message}")


def _syntax_message(kind: str, exc: Exception) -> str:
    """Where the text stops being JSON/YAML, as 1-based line and column, and why."""
    if isinstance(exc, json.JSONDecodeError):
        return f"not valid JSON: line {exc.lineno}, column {exc.colno}: {exc.msg}"
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem_mark is not None:
        mark = exc.problem_mark
        context = f" {exc.context}" if exc.context else ""
        return (
            f"not valid YAML: line {mark.line + 1}, column {mark.column + 1}: "
            f"{exc.problem}{context}"
        )
    return f"not valid {kind}: {exc}"


def document_parse(raw: bytes | str, *, content_type: str = "application/json") -> dict[str, Any]:
    """Parse JSON (or YAML when the content type says so) within the size limit.

    The result is plain JSON data (objects with string keys, arrays, strings, finite numbers,
    booleans, null) at most ``MAX_DEPTH`` levels deep, or ``InvalidDocument`` is raised. The
    limit holds after YAML aliases are expanded too: their size is counted while the text is
    read (``jsondata.yaml_parse``), so a small file naming a large anchor many times is refused
    before it becomes a large value."""
    max_bytes, _ = _limits()
    size = len(raw.encode() if isinstance(raw, str) else raw)
    if size > max_bytes:
        raise InvalidDocument(
            [Problem("", f"the document is {size} bytes; the limit is {max_bytes}")],
            "the flow document is too large",
        )
    kind = "YAML" if "yaml" in content_type else "JSON"
    try:
        if kind == "YAML":
            data = jsondata.yaml_parse(raw, max_size=max_bytes, max_depth=MAX_DEPTH)
        else:
            data = jsondata.json_parse(raw, max_depth=MAX_DEPTH)
    except jsondata.TooLarge as exc:
        raise InvalidDocument([Problem("", f"the document has {exc}")]) from exc
    except (ValueError, yaml.YAMLError) as exc:
        raise InvalidDocument([Problem("", _syntax_message(kind, exc))]) from exc
    if not isinstance(data, dict):
        raise InvalidDocument([Problem("", "the document must be an object")])
    # Every JSON value takes at least two bytes (a value and a separator).
    problem = _not_json_data(data, max_bytes // 2)
    if problem is not None:
        raise InvalidDocument([problem])
    return data


def _pointer(parts: Iterable[Any]) -> str:
    return "".join("/" + str(part).replace("~", "~0").replace("/", "~1") for part in parts)


def _schema_problems(instance: Any, schema: dict[str, Any], base: list[Any]) -> list[Problem]:
    validator = jsonschema.Draft202012Validator(schema)
    problems = []
    for error in sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path)):
        where = [*base, *error.absolute_path]
        if error.validator == "required":
            missing = error.message.split("'")[1] if "'" in error.message else error.message
            problems.append(Problem(_pointer(where), f"missing required field {missing!r}"))
        elif error.validator == "additionalProperties" and isinstance(error.instance, dict):
            # One problem per unknown field, pointing at the field itself.
            known = set(error.schema.get("properties") or {})
            problems += [
                Problem(_pointer([*where, key]), f"unknown field {key!r}")
                for key in error.instance
                if key not in known
            ]
        else:
            problems.append(Problem(_pointer(where), error.message))
    return problems


def _expression_fields(
    value: Any, schema: dict[str, Any], path: list[Any]
) -> Iterator[tuple[list[Any], str, str]]:
    """Yield ``(path, source, kind)`` for template/condition strings the schema marks."""
    fmt = schema.get("format")
    if fmt in {"template", "condition"} and isinstance(value, str):
        yield path, value, fmt
    elif fmt == "template-object":
        for key, item in _walk_strings(value, path):
            yield key, item, "template"
    if isinstance(value, dict):
        for key, sub in (schema.get("properties") or {}).items():
            if key in value:
                yield from _expression_fields(value[key], sub, [*path, key])
    for option in schema.get("oneOf", []):
        if option.get("format") == "template-object" and isinstance(value, dict):
            yield from _expression_fields(value, option, path)
        if option.get("format") == "template" and isinstance(value, str):
            yield from _expression_fields(value, option, path)


def _walk_strings(value: Any, path: list[Any]) -> Iterator[tuple[list[Any], str]]:
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _walk_strings(item, [*path, key])
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _walk_strings(item, [*path, index])


def _check_expression(
    source: str, kind: str, where: list[Any], node_ids: set[str]
) -> list[Problem]:
    try:
        if kind == "condition":
            expressions.check_condition(source)
        else:
            expressions.check_template(source)
    except expressions.ExpressionError as exc:
        return [Problem(_pointer(where), str(exc))]
    return [
        Problem(_pointer(where), f"refers to steps.{ref}, but there is no node {ref!r}")
        for ref in expressions.step_references(source, is_condition=kind == "condition")
        if ref not in node_ids
    ]


def _agent_problems(agent: dict[str, Any], base: list[Any], node_ids: set[str]) -> list[Problem]:
    """The expressions of an inline agent: script rules (its own and its cascade stages'), and
    the ``confidence`` and ``check`` escalation rules."""
    problems: list[Problem] = []
    scripts = [(base, agent.get("script"))] + [
        ([*base, "cascade", stage_index], stage.get("script"))
        for stage_index, stage in enumerate(agent.get("cascade") or [])
    ]
    for where, script in scripts:
        for rule_index, rule in enumerate((script or {}).get("rules", [])):
            path = [*where, "script", "rules", rule_index, "when"]
            problems += _check_expression(rule["when"], "condition", path, node_ids)
    for field in ("confidence", "check"):
        if agent.get(field):
            problems += _check_expression(agent[field], "condition", [*base, field], node_ids)
    return problems


def document_problems(
    document: Any,
    *,
    known_agents: set[str] | None = None,
    known_tools: Collection[str] | Mapping[str, tools.Tool] | None = None,
) -> list[Problem]:
    """Every problem with ``document``; an empty list means it can be saved and run.

    ``known_agents`` are the agents of the agents table an agent node may name besides the
    document's inline agents. ``known_tools`` is the tool registry (``agents.tools.registry()``,
    what saving passes) or just its names; a tool node naming a tool outside it is a problem
    (``flows.engine.nodes.tool.tool_call_problems`` checks tool arguments)."""
    problems = _envelope_problems(document)
    if problems:
        return problems
    node_ids = {node["id"] for node in document["nodes"]}
    inline_agents = {agent["slug"] for agent in document.get("agents", [])}
    known = Known(agents=inline_agents | (known_agents or set()), tools=known_tools)
    problems = (
        _node_problems(document, node_ids, known)
        + _failure_path_problems(document)
        + _expression_problems(document, node_ids)
        + _section_problems(document)
    )
    if not problems:
        _, structural = graphs.build(document)
        problems += [Problem(p.pointer, p.message) for p in structural]
    return problems


def _envelope_problems(document: Any) -> list[Problem]:
    """The document as a whole: an object of JSON data within the size and node limits that
    the document schema accepts. Stops at the first of these that fails."""
    max_bytes, max_nodes = _limits()
    if not isinstance(document, dict):
        return [Problem("", "the document must be an object")]
    not_json = _not_json_data(document, max_bytes // 2)
    if not_json is not None:
        return [not_json]
    size = len(json.dumps(document, ensure_ascii=False).encode())
    if size > max_bytes:
        return [Problem("", f"the document is {size} bytes; the limit is {max_bytes}")]
    nodes = document.get("nodes")
    if isinstance(nodes, list) and len(nodes) > max_nodes:
        return [Problem("/nodes", f"{len(nodes)} nodes; the limit is {max_nodes}")]
    return _schema_problems(document, DOCUMENT_SCHEMA, [])


def _expression_problems(document: dict[str, Any], node_ids: set[str]) -> list[Problem]:
    """The conditions of edges, the subject template and the inline agents' rules."""
    problems: list[Problem] = []
    for index, edge in enumerate(document["edges"]):
        if edge.get("when"):
            problems += _check_expression(
                edge["when"], "condition", ["edges", index, "when"], node_ids
            )
    if document.get("subject"):
        problems += _check_expression(document["subject"], "template", ["subject"], node_ids)
    for index, agent in enumerate(document.get("agents", [])):
        problems += _agent_problems(agent, ["agents", index], node_ids)
    return problems


def _section_problems(document: dict[str, Any]) -> list[Problem]:
    """The trigger, the policies, the input schema and the inline agents' slugs."""
    problems: list[Problem] = []
    if "trigger" in document:
        problems += [Problem(p, m) for p, m in trigger_problems(document["trigger"])]
    if "policies" in document:
        from flows.guardrails.document import policy_problems

        problems += [Problem(p, m) for p, m in policy_problems(document["policies"])]
    if "input_schema" in document:
        try:
            jsonschema.Draft202012Validator.check_schema(document["input_schema"])
        except jsonschema.SchemaError as exc:
            problems.append(Problem("/input_schema", f"not a valid JSON Schema: {exc.message}"))
    slugs = [agent["slug"] for agent in document.get("agents", [])]
    for index, slug in enumerate(slugs):
        if slugs.index(slug) != index:
            problems.append(Problem(f"/agents/{index}/slug", f"duplicate agent slug {slug!r}"))
    return problems


def _failure_path_problems(document: dict[str, Any]) -> list[Problem]:
    """``on_error: continue`` and error edges only on node types that allow them
    (``NodeType.continues_on_error``, ``NodeType.routes_errors``)."""
    problems: list[Problem] = []
    types = {node["id"]: REGISTRY.get(node["type"]) for node in document["nodes"]}
    for index, node in enumerate(document["nodes"]):
        node_type = types[node["id"]]
        if node.get("on_error") == "continue" and node_type and not node_type.continues_on_error:
            problems.append(
                Problem(
                    _pointer(["nodes", index, "on_error"]),
                    f"on_error 'continue' is not allowed on {node['type']} nodes: going on "
                    "after its failure would skip what it decides",
                )
            )
    for index, edge in enumerate(document["edges"]):
        node_type = types.get(edge["from"])
        if edge.get("on") == "error" and node_type is not None and not node_type.routes_errors:
            problems.append(
                Problem(
                    _pointer(["edges", index, "on"]),
                    f"a {node_type.type} node has no failure to route: no error edge from it",
                )
            )
    return problems


def _node_problems(document: dict[str, Any], node_ids: set[str], known: Known) -> list[Problem]:
    problems: list[Problem] = []
    for index, node in enumerate(document["nodes"]):
        problems += _node_id_problems(node["id"], ["nodes", index, "id"])
        node_type = REGISTRY.get(node["type"])
        if node_type is None:
            problems.append(
                Problem(
                    _pointer(["nodes", index, "type"]),
                    f"unknown node type {node['type']!r} (known: {', '.join(sorted(REGISTRY))})",
                )
            )
            continue
        problems += _config_problems(node_type, node.get("config", {}), index, node_ids, known)
    return problems


def _node_id_problems(node_id: str, where: list[Any]) -> list[Problem]:
    if node_id not in expressions.SHADOWED_KEYS:
        return []
    return [
        Problem(
            _pointer(where),
            f"node id {node_id!r} cannot be read in templates: "
            f"steps.{node_id} is the built-in {node_id}() of every mapping, so "
            f"{{{{ steps.{node_id}.output }}}} would render null; rename the node "
            f"(e.g. {node_id + '_step'!r})",
        )
    ]


def _config_problems(
    node_type: NodeType, config: Any, index: int, node_ids: set[str], known: Known
) -> list[Problem]:
    """A node's config: its type's schema first; on a config the schema accepts, the
    expressions it marks, then what its type checks itself (``NodeType.config_problems``,
    ``NodeType.reference_problems``)."""
    base = ["nodes", index, "config"]
    problems = _schema_problems(config, node_type.schema, base)
    if problems:
        return problems
    for path, source, kind in _expression_fields(config, node_type.schema, base):
        problems += _check_expression(source, kind, path, node_ids)
    found = node_type.config_problems(config) + node_type.reference_problems(config, known)
    return problems + [Problem(_pointer([*base, *path]), message) for path, message in found]
