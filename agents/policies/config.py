"""The ``config`` of each policy kind: a JSON Schema plus the checks a schema cannot express
(conditions that must parse, regexes that must compile, a time zone that must exist).

``config_errors(kind, config)`` answers ``[(pointer, message)]`` with JSON pointers inside the
config (``/window``, ``/patterns/1/regex``); an empty list means the config is valid.
"""

from __future__ import annotations

import functools
import json
import re
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import jsonschema

from agents.policies import patterns
from agents.policies.facts import KINDS

MAX_PATTERN_CHARS = 500
WINDOW = re.compile(r"^(?P<count>[1-9][0-9]{0,5})(?P<unit>[smhd])$")
UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
CLOCK = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"
PII_KINDS = ("email", "phone", "card", "iban")

_NAMES = {"type": "array", "items": {"type": "string", "minLength": 1, "maxLength": 200}}
_MATCH = {
    "tools": {**_NAMES, "description": "Tool names (``*`` wildcards allowed)"},
    "categories": {**_NAMES, "description": "Tool categories: outbound_message, payment..."},
}
_CONDITION = {"type": "string", "minLength": 1, "maxLength": 2000}
_PATTERN = {
    "type": "object",
    "additionalProperties": False,
    "required": ["regex"],
    "properties": {
        "name": {"type": "string", "pattern": "^[A-Za-z][A-Za-z0-9_]{0,30}$"},
        "regex": {"type": "string", "minLength": 1, "maxLength": MAX_PATTERN_CHARS},
    },
}


def _schema(properties: dict[str, Any], *, required: list[str] | None = None) -> dict[str, Any]:
    return {
        "type": "object",
        "additionalProperties": False,
        "properties": properties,
        "required": required or [],
    }


SCHEMAS: dict[str, dict[str, Any]] = {
    "approval": _schema(
        {
            **_MATCH,
            "when": {**_CONDITION, "description": "e.g. args.amount > 500"},
            "min_confidence": {"type": "number", "minimum": 0, "maximum": 1},
        }
    ),
    "rate_limit": _schema(
        {
            **_MATCH,
            "max": {"type": "integer", "minimum": 0, "maximum": 1_000_000},
            "window": {"type": "string", "description": "e.g. 24h, 30m, 7d"},
        },
        required=["max", "window"],
    ),
    "quiet_hours": _schema(
        {
            **_MATCH,
            "time_zone": {"type": "string", "minLength": 1, "maxLength": 64},
            "start": {"type": "string", "pattern": CLOCK},
            "end": {"type": "string", "pattern": CLOCK},
            "days": {
                "type": "array",
                "items": {"enum": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]},
            },
        },
        required=["time_zone", "start", "end"],
    ),
    "budget": _schema(
        {
            "per": {"enum": ["run", "flow_day", "flow_month"]},
            "max_tokens": {"type": "integer", "minimum": 0},
            "max_cost": {"type": ["string", "number"]},
        },
        required=["per"],
    ),
    "limits": _schema(
        {
            "max_steps": {"type": "integer", "minimum": 1},
            "max_loop_iterations": {"type": "integer", "minimum": 1},
            "max_run_seconds": {"type": "number", "exclusiveMinimum": 0},
            "max_agent_turns": {"type": "integer", "minimum": 1},
        }
    ),
    "tool_scope": _schema(
        {
            "agents": {**_NAMES, "description": "Agents it applies to (all when absent)"},
            "allow": {**_NAMES, "description": "Only these tools (``*`` wildcards allowed)"},
            "deny": {**_NAMES, "description": "Never these tools"},
        }
    ),
    "pii": _schema(
        {
            "detect": {"type": "array", "items": {"enum": list(PII_KINDS)}, "uniqueItems": True},
            "patterns": {"type": "array", "items": _PATTERN, "maxItems": 50},
            "restore": {"type": "boolean"},
            "providers": {**_NAMES, "description": "Providers it applies to (not scripted)"},
        }
    ),
    "content": _schema(
        {
            "phrases": {**_NAMES, "maxItems": 500},
            "patterns": {"type": "array", "items": _PATTERN, "maxItems": 50},
        }
    ),
}

#: The verdicts each kind may give when its condition holds (``allow``: record only).
VERDICTS_BY_KIND: dict[str, tuple[str, ...]] = {
    "approval": ("require_approval", "block", "allow"),
    "rate_limit": ("block", "require_approval", "allow"),
    "quiet_hours": ("block", "require_approval", "allow"),
    "budget": ("block", "require_approval", "allow"),
    "limits": ("block", "allow"),
    "tool_scope": ("block", "require_approval", "allow"),
    "pii": ("redact", "block", "allow"),
    "content": ("block", "require_approval", "allow"),
}


def _pointer(path: Any) -> str:
    return "".join(f"/{part}" for part in path) or "/"


def config_errors(kind: str, config: Any) -> list[tuple[str, str]]:
    """What is wrong with ``config`` for a policy of ``kind``, as ``(pointer, message)``."""
    if kind not in SCHEMAS:
        return [("/", f"unknown policy kind {kind!r} (one of: {', '.join(KINDS)})")]
    validator = _validator(kind)
    errors = [
        (_pointer(error.absolute_path), error.message)
        for error in sorted(validator.iter_errors(config), key=lambda e: list(e.absolute_path))
    ]
    if errors or not isinstance(config, dict):
        return errors
    return _semantic_errors(kind, config)


@functools.cache
def _validator(kind: str) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(SCHEMAS[kind])


def config_errors_cached(kind: str, config: Any) -> list[tuple[str, str]]:
    """``config_errors`` for the hot path: the same stored config is checked at every model
    and tool call, so answers are kept per (kind, canonical JSON of the config)."""
    try:
        canonical = json.dumps(config, sort_keys=True, separators=(",", ":"))
    except (TypeError, ValueError):
        return config_errors(kind, config)
    return list(_errors_for(kind, canonical))


@functools.lru_cache(maxsize=1024)
def _errors_for(kind: str, canonical: str) -> tuple[tuple[str, str], ...]:
    return tuple(config_errors(kind, json.loads(canonical)))


def verdict_errors(kind: str, verdict: str) -> list[tuple[str, str]]:
    """Whether ``verdict`` makes sense for ``kind`` (a pointer of "" means the field itself)."""
    allowed = VERDICTS_BY_KIND.get(kind, ())
    if verdict in allowed:
        return []
    return [("", f"a {kind} policy's verdict is one of: {', '.join(allowed)}")]


def _semantic_errors(kind: str, config: dict[str, Any]) -> list[tuple[str, str]]:
    """What a schema-valid ``config`` of a ``kind`` policy still gets wrong, as ``(pointer,
    message)`` pairs: the condition, the times, the patterns, then the kind's own rules."""
    return [
        *_condition_errors(config),
        *_time_errors(kind, config),
        *_pattern_errors(config),
        *_kind_errors(kind, config),
    ]


def _condition_errors(config: dict[str, Any]) -> list[tuple[str, str]]:
    """The ``when`` condition's syntax error, if any."""
    from controlroom import expressions

    if "when" in config:
        try:
            expressions.check_condition(config["when"])
        except expressions.ExpressionError as exc:
            return [("/when", str(exc))]
    return []


def _time_errors(kind: str, config: dict[str, Any]) -> list[tuple[str, str]]:
    """A malformed ``window``, an unknown ``time_zone``, an empty quiet window."""
    errors: list[tuple[str, str]] = []
    if "window" in config and not WINDOW.match(config["window"]):
        errors.append(("/window", "a number and a unit: s, m, h or d (e.g. 24h)"))
    if "time_zone" in config:
        try:
            ZoneInfo(config["time_zone"])
        except (ZoneInfoNotFoundError, ValueError):
            errors.append(("/time_zone", f"unknown time zone {config['time_zone']!r}"))
    if kind == "quiet_hours" and config.get("start") == config.get("end"):
        errors.append(("/end", "the quiet window must not be empty (start equals end)"))
    return errors


def _pattern_errors(config: dict[str, Any]) -> list[tuple[str, str]]:
    """Each ``patterns[i].regex`` that does not compile."""
    errors: list[tuple[str, str]] = []
    for index, pattern in enumerate(config.get("patterns") or []):
        problem = patterns.compile_error(pattern["regex"])
        if problem:
            errors.append((f"/patterns/{index}/regex", problem))
    return errors


def _kind_errors(kind: str, config: dict[str, Any]) -> list[tuple[str, str]]:
    """The rules of one kind: a budget sets a limit, limits set one, a tool scope allows or
    denies, a content policy names what to look for."""
    errors: list[tuple[str, str]] = []
    if kind == "budget":
        errors += _budget_errors(config)
    if kind == "limits" and not config:
        errors.append(("/", "set at least one of: " + ", ".join(SCHEMAS["limits"]["properties"])))
    if kind == "tool_scope" and not (config.get("allow") is not None or config.get("deny")):
        errors.append(("/", "set allow (only these tools) or deny (never these tools)"))
    if kind == "content" and not (config.get("phrases") or config.get("patterns")):
        errors.append(("/", "set phrases or patterns to look for"))
    return errors


def _budget_errors(config: dict[str, Any]) -> list[tuple[str, str]]:
    if "max_tokens" not in config and "max_cost" not in config:
        return [("/", "set max_tokens, max_cost or both")]
    if "max_cost" in config:
        try:
            cost = Decimal(str(config["max_cost"]))
        except InvalidOperation:
            return [("/max_cost", 'a decimal amount, e.g. "2.50"')]
        if not cost.is_finite() or cost < 0:
            return [("/max_cost", "a decimal amount of 0 or more")]
    return []


def window_seconds(window: str) -> int:
    """``24h`` → 86400. The config was validated; a bad value raises ``ValueError``."""
    match = WINDOW.match(window)
    if match is None:
        raise ValueError(f"bad window {window!r}")
    return int(match["count"]) * UNIT_SECONDS[match["unit"]]
