"""Agents as first-class objects: the one place ``Agent`` rows are written.

The HTML views and the API both call ``agent_create``, ``agent_update`` and ``agent_archive``;
both get the same checks (``agent_problems``) and the same errors. Values use the model's field
names (``output_mode``, ``check_condition``), except ``connection``, which is a connection's
slug (or ``None``). A field added to ``Agent`` is accepted here without a change: what is not
checked below is still checked by the model's own field validation.

Flow versions freeze the agents they use when they are saved (``flows.versions``), so an edit
here changes what later saves pick up, never a version already saved.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

import jsonschema
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from agents import tools
from agents.audit import audit_record
from agents.models import Agent, ProviderConnection
from controlroom import expressions

SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,79}$")
#: Slugs the pages use as paths (``/agents/new/``).
RESERVED_SLUGS = frozenset({"new"})
#: Fields nobody sets through these functions: the row's identity and bookkeeping.
READ_ONLY_FIELDS = frozenset({"id", "archived", "created_at", "updated_at"})
MAX_INSTRUCTIONS = 50_000
MAX_JSON_CHARS = 200_000
MAX_TURNS_LIMIT = 50
MAX_CASCADE = 10
SCRIPT_KEYS = frozenset({"responses", "rules", "latency_ms"})
#: Which connection kinds serve which provider (the scripted provider needs none).
CONNECTION_KINDS = {
    Agent.Provider.OPENAI: ProviderConnection.Kind.OPENAI,
    Agent.Provider.ANTHROPIC: ProviderConnection.Kind.ANTHROPIC,
}


@dataclass(frozen=True)
class Problem:
    """What is wrong with one field (``field`` is a model field name, or "" for the whole)."""

    field: str
    message: str


class AgentInvalid(ValueError):
    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(f"{p.field}: {p.message}" for p in problems))
        self.problems = problems


class AgentConflict(ValueError):
    """The slug is taken (by an archived agent too: slugs are never reused)."""


def agent_fields() -> tuple[str, ...]:
    """Every field ``agent_create``/``agent_update`` accept, in the model's order."""
    return tuple(
        field.name for field in Agent._meta.concrete_fields if field.name not in READ_ONLY_FIELDS
    )


# --- checks ---------------------------------------------------------------------------------------


def _template(value: Any, field: str, limit: int) -> Iterable[Problem]:
    if not isinstance(value, str):
        yield Problem(field, "must be text")
        return
    if len(value) > limit:
        yield Problem(field, f"is longer than {limit} characters")
        return
    try:
        expressions.check_template(value)
    except expressions.ExpressionError as exc:
        yield Problem(field, str(exc))


def _condition(value: Any, field: str) -> Iterable[Problem]:
    if value in ("", None):
        return
    try:
        expressions.check_condition(str(value))
    except expressions.ExpressionError as exc:
        yield Problem(field, str(exc))


def _json_size(value: Any, field: str) -> Iterable[Problem]:
    try:
        size = len(json.dumps(value, allow_nan=False))
    except (TypeError, ValueError):
        yield Problem(field, "must be JSON data")
        return
    if size > MAX_JSON_CHARS:
        yield Problem(field, f"is larger than {MAX_JSON_CHARS} characters of JSON")


def _output_schema(schema: Any, mode: Any) -> Iterable[Problem]:
    if schema in (None, {}):
        return
    if not isinstance(schema, dict):
        yield Problem("output_schema", "a JSON Schema is a JSON object")
        return
    if mode != Agent.OutputMode.JSON:
        yield Problem("output_schema", "a JSON Schema applies to JSON output only")
        return
    try:
        jsonschema.validators.validator_for(schema).check_schema(schema)
    except jsonschema.SchemaError as exc:
        where = "/".join(str(part) for part in exc.absolute_path)
        yield Problem(
            "output_schema",
            f"not a valid JSON Schema{f' at /{where}' if where else ''}: {exc.message}",
        )
    yield from _json_size(schema, "output_schema")


def _tools(value: Any) -> Iterable[Problem]:
    if not isinstance(value, list) or not all(isinstance(name, str) for name in value):
        yield Problem("tools", "must be a list of tool names")
        return
    if len(set(value)) != len(value):
        yield Problem("tools", "names a tool twice")
    for name in value:
        try:
            tools.tool_get(name)
        except tools.ToolError:
            yield Problem("tools", f"there is no tool {name!r}")


def _price(value: Any, field: str) -> Iterable[Problem]:
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError):
        yield Problem(field, "must be a decimal number")
        return
    if not amount.is_finite() or amount < 0:
        yield Problem(field, "must be zero or more")
    elif amount.as_tuple().exponent < -6 or amount >= Decimal("1000000"):  # type: ignore[operator]
        yield Problem(field, "at most 6 decimal places and below 1,000,000")


def _script(value: Any) -> Iterable[Problem]:
    if value in (None, {}):
        return
    if not isinstance(value, dict):
        yield Problem("script", "a script is a JSON object")
        return
    unknown = sorted(set(value) - SCRIPT_KEYS)
    if unknown:
        yield Problem(
            "script", f"unknown key(s) {', '.join(unknown)}; use responses, rules, latency_ms"
        )
    responses = value.get("responses", [])
    if not isinstance(responses, list):
        yield Problem("script", "responses must be a list")
    rules = value.get("rules", [])
    if not isinstance(rules, list):
        yield Problem("script", "rules must be a list")
        rules = []
    for index, rule in enumerate(rules):
        if not isinstance(rule, dict) or "when" not in rule or "response" not in rule:
            yield Problem("script", f"rule {index + 1} needs 'when' and 'response'")
            continue
        for problem in _condition(rule["when"], "script"):
            yield Problem("script", f"rule {index + 1}: {problem.message}")
    latency = value.get("latency_ms", 0)
    if not isinstance(latency, int) or isinstance(latency, bool) or not 0 <= latency <= 60_000:
        yield Problem("script", "latency_ms is a whole number from 0 to 60000")
    yield from _json_size(value, "script")


def _cascade(value: Any) -> Iterable[Problem]:
    if not isinstance(value, list) or not all(isinstance(stage, dict) for stage in value):
        yield Problem("cascade", "a cascade is a list of stages (JSON objects)")
        return
    if len(value) > MAX_CASCADE:
        yield Problem("cascade", f"at most {MAX_CASCADE} stages")
    providers = {choice.value for choice in Agent.Provider}
    for index, stage in enumerate(value):
        if "provider" in stage and stage["provider"] not in providers:
            yield Problem("cascade", f"stage {index + 1}: unknown provider {stage['provider']!r}")
    yield from _json_size(value, "cascade")


def _connection(slug: Any, provider: Any) -> Iterable[Problem]:
    if slug in (None, ""):
        return
    connection = ProviderConnection.objects.filter(slug=str(slug)).first()
    if connection is None:
        yield Problem("connection", f"there is no connection {slug!r}")
    elif provider == Agent.Provider.SCRIPTED:
        yield Problem("connection", "the scripted provider runs offline and uses no connection")
    elif CONNECTION_KINDS.get(provider) != connection.kind:
        yield Problem(
            "connection", f"connection {slug!r} is for {connection.get_kind_display()} models"
        )


def agent_problems(values: Mapping[str, Any]) -> list[Problem]:
    """Everything wrong with a complete set of agent values (the row as it would be saved)."""
    problems: list[Problem] = []
    allowed = set(agent_fields())
    problems += [
        Problem(name, "is not a field of an agent") for name in values if name not in allowed
    ]
    if not SLUG.match(str(values.get("slug", ""))):
        problems.append(
            Problem(
                "slug", "1-80 lower-case letters, digits and '-', starting with a letter or digit"
            )
        )
    if values.get("slug") in RESERVED_SLUGS:
        problems.append(Problem("slug", f"{values['slug']!r} is reserved; choose another slug"))
    if not str(values.get("name", "")).strip():
        problems.append(Problem("name", "an agent needs a name"))
    provider = values.get("provider")
    if provider not in {choice.value for choice in Agent.Provider}:
        problems.append(
            Problem("provider", f"unknown provider {provider!r}; use scripted, openai or anthropic")
        )
    if not str(values.get("model", "")).strip():
        problems.append(Problem("model", "name the model to call"))
    problems += _template(values.get("instructions", ""), "instructions", MAX_INSTRUCTIONS)
    problems += _template(values.get("memory_scope", ""), "memory_scope", 200)
    if values.get("output_mode") not in {choice.value for choice in Agent.OutputMode}:
        problems.append(Problem("output_mode", "output is text or json"))
    problems += _output_schema(values.get("output_schema"), values.get("output_mode"))
    problems += _tools(values.get("tools", []))
    problems += _price(values.get("price_in_per_1k", 0), "price_in_per_1k")
    problems += _price(values.get("price_out_per_1k", 0), "price_out_per_1k")
    problems += _script(values.get("script", {}))
    problems += _cascade(values.get("cascade", []))
    problems += _connection(values.get("connection"), provider)
    problems += _condition(values.get("check_condition", ""), "check_condition")
    problems += _condition(values.get("confidence", ""), "confidence")
    problems += _ranges(values)
    return problems


def _ranges(values: Mapping[str, Any]) -> Iterable[Problem]:
    bounds = {
        "temperature": (0, 2),
        "max_tokens": (1, 200_000),
        "max_turns": (1, MAX_TURNS_LIMIT),
        "min_confidence": (0, 1),
    }
    for name, (low, high) in bounds.items():
        value = values.get(name)
        if value is None or name not in values:
            continue
        if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
            yield Problem(name, "must be a number")
        elif not low <= value <= high:
            yield Problem(name, f"must be from {low} to {high}")


# --- writing --------------------------------------------------------------------------------------


def _apply(agent: Agent, values: Mapping[str, Any]) -> None:
    """Set ``values`` on ``agent`` (not saved), then run the model's own field checks."""
    for name, value in values.items():
        if name == "connection":
            agent.connection = (
                ProviderConnection.objects.get(slug=value) if value not in (None, "") else None
            )
        elif name in ("price_in_per_1k", "price_out_per_1k"):
            setattr(agent, name, Decimal(str(value)))
        else:
            setattr(agent, name, value)
    try:
        agent.full_clean(validate_unique=False, validate_constraints=False)
    except ValidationError as exc:
        raise AgentInvalid(
            [
                Problem(field, message)
                for field, messages in exc.message_dict.items()
                for message in messages
            ]
        ) from None


def agent_values(agent: Agent | None = None) -> dict[str, Any]:
    """Every writable field of ``agent`` (or a new agent's defaults), as the functions here
    take them."""
    agent = agent if agent is not None else Agent()
    values = {name: getattr(agent, name) for name in agent_fields() if name != "connection"}
    values["connection"] = (
        agent.connection.slug if agent.connection_id and agent.connection else None
    )
    return values


def agent_create(*, values: Mapping[str, Any]) -> Agent:
    """Create an agent from ``values`` (unset fields take the model's defaults; ``name``
    defaults to the slug). Raises ``AgentInvalid`` listing every problem, ``AgentConflict``
    when the slug is taken."""
    merged = {**agent_values(), **values}
    if not str(merged.get("name") or "").strip():
        merged["name"] = merged.get("slug", "")
    problems = agent_problems(merged)
    if problems:
        raise AgentInvalid(problems)
    agent = Agent()
    _apply(agent, merged)
    if Agent.objects.filter(slug=agent.slug).exists():
        raise AgentConflict(f"an agent with slug {agent.slug!r} exists already")
    try:
        with transaction.atomic():
            agent.save()
            audit_record(
                kind="config",
                action="agent.created",
                subject=agent.slug,
                data={"provider": agent.provider, "model": agent.model},
            )
    except IntegrityError:
        raise AgentConflict(f"an agent with slug {agent.slug!r} exists already") from None
    agent.refresh_from_db()  # values as stored (decimals at their scale)
    return agent


def agent_update(*, agent: Agent, changes: Mapping[str, Any]) -> Agent:
    """Change the fields in ``changes`` (the slug cannot change: flows name agents by it).
    Raises ``AgentInvalid``. Flow versions already saved keep the agent they froze."""
    if "slug" in changes and changes["slug"] != agent.slug:
        raise AgentInvalid([Problem("slug", "an agent's slug cannot change; flows refer to it")])
    merged = {**agent_values(agent), **changes}
    problems = agent_problems(merged)
    if problems:
        raise AgentInvalid(problems)
    fresh = Agent.objects.get(pk=agent.pk)
    _apply(fresh, changes)
    with transaction.atomic():
        fresh.save()
        audit_record(
            kind="config",
            action="agent.updated",
            subject=fresh.slug,
            data={"changed": sorted(changes)},
        )
    fresh.refresh_from_db()
    return fresh


def agent_archive(*, agent: Agent, archived: bool = True) -> Agent:
    """Archive (or bring back) ``agent``. Archived agents are hidden from lists and cannot be
    used by new flow versions; versions that froze them keep working. Idempotent."""
    with transaction.atomic():
        if Agent.objects.filter(pk=agent.pk).exclude(archived=archived).update(archived=archived):
            audit_record(
                kind="config",
                action="agent.archived" if archived else "agent.restored",
                subject=agent.slug,
            )
    agent.refresh_from_db()
    return agent
