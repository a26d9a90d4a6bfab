"""One check per policy kind: does the policy's condition hold for these facts?

Each check answers ``None`` (it does not hold: the policy allows) or a ``Hit`` (what held, in
words and numbers). ``POINTS_BY_KIND`` says at which enforcement points a kind is asked.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import time
from decimal import Decimal
from fnmatch import fnmatchcase
from typing import Any
from zoneinfo import ZoneInfo

from agents.policies.config import window_seconds
from agents.policies.facts import Facts, Spend
from agents.policies.pii import pii_kinds


@dataclass(frozen=True)
class Hit:
    message: str
    detail: Mapping[str, Any] = field(default_factory=dict)


Check = Callable[[Mapping[str, Any], Facts], Hit | None]


def _matches(names: Any, value: str) -> bool:
    return any(fnmatchcase(value, str(name)) for name in names or [])


def call_matches(config: Mapping[str, Any], facts: Facts) -> bool:
    """A tool call is in a policy's reach: its ``tools`` and ``categories`` (any when absent)."""
    tools, categories = config.get("tools"), config.get("categories")
    if tools is None and categories is None:
        return True
    return _matches(tools, facts.tool) or facts.category in (categories or [])


def condition_variables(facts: Facts) -> dict[str, Any]:
    return {
        "args": dict(facts.args),
        "input": dict(facts.input),
        "steps": dict(facts.steps),
        "subject": facts.subject,
        "tool": facts.tool,
        "category": facts.category,
        "agent": facts.agent,
        "confidence": facts.confidence,
    }


def _approval(config: Mapping[str, Any], facts: Facts) -> Hit | None:
    from controlroom import expressions

    if facts.point == "output":
        threshold = config.get("min_confidence")
        if threshold is None or facts.confidence is None or facts.confidence >= threshold:
            return None
        return Hit(
            f"the agent's confidence {facts.confidence:g} is below {threshold:g}",
            {"confidence": facts.confidence, "min_confidence": threshold},
        )
    gates_calls = any(name in config for name in ("tools", "categories", "when"))
    if not gates_calls or not call_matches(config, facts):
        return None
    condition = config.get("when")
    if not condition:
        return Hit(f"{facts.tool} ({facts.category}) needs approval", {"tool": facts.tool})
    try:
        held = expressions.evaluate(condition, condition_variables(facts))
    except expressions.ExpressionError as exc:
        # Fail closed: a condition that cannot be evaluated gates the call.
        return Hit(f"condition {condition!r} could not be evaluated: {exc}", {"when": condition})
    return Hit(f"{condition} holds", {"when": condition}) if held else None


def _rate_limit(config: Mapping[str, Any], facts: Facts, *, slug: str) -> Hit | None:
    if not call_matches(config, facts):
        return None
    count = int(facts.counts.get(slug, 0))
    limit = int(config["max"])
    if count < limit:
        return None
    who = facts.subject or "(no subject)"
    return Hit(
        f"{count} of at most {limit} calls for {who} in the last {config['window']}",
        {"count": count, "max": limit, "window": config["window"], "subject": facts.subject},
    )


def _parse_clock(text: str) -> time:
    hours, minutes = text.split(":")
    return time(int(hours), int(minutes))


def _quiet_hours(config: Mapping[str, Any], facts: Facts) -> Hit | None:
    if not call_matches(config, facts):
        return None
    local = facts.now.astimezone(ZoneInfo(config["time_zone"]))
    days = config.get("days")
    if days and local.strftime("%a").lower() not in days:
        return None
    start, end, now = _parse_clock(config["start"]), _parse_clock(config["end"]), local.time()
    inside = start <= now < end if start < end else (now >= start or now < end)
    if not inside:
        return None
    return Hit(
        f"quiet hours {config['start']}-{config['end']} {config['time_zone']} "
        f"(it is {local:%H:%M} there)",
        {"local_time": local.isoformat(timespec="minutes")},
    )


def _budget(config: Mapping[str, Any], facts: Facts) -> Hit | None:
    period = config["per"]
    spent = facts.spent.get(period, Spend())
    after = spent + facts.estimate
    detail = {
        "per": period,
        "spent_tokens": spent.tokens,
        "spent_cost": str(spent.cost),
        "estimate_tokens": facts.estimate.tokens,
        "estimate_cost": str(facts.estimate.cost),
    }
    if "max_tokens" in config and after.tokens > int(config["max_tokens"]):
        return Hit(
            f"{spent.tokens} tokens used + {facts.estimate.tokens} estimated would exceed the "
            f"{period} budget of {config['max_tokens']} tokens",
            detail,
        )
    if "max_cost" in config and after.cost > Decimal(str(config["max_cost"])):
        return Hit(
            f"{spent.cost} spent + {facts.estimate.cost} estimated would exceed the {period} "
            f"budget of {config['max_cost']}",
            detail,
        )
    return None


def _limits(config: Mapping[str, Any], facts: Facts) -> Hit | None:
    checks: list[tuple[str, float, str]] = []
    if facts.point == "step":
        checks += [
            ("max_steps", facts.step_count, "steps"),
            ("max_loop_iterations", facts.loop_iteration, "loop iterations"),
        ]
    if facts.point == "model_call":
        checks.append(("max_agent_turns", facts.agent_turns, "agent turns"))
    checks.append(("max_run_seconds", facts.run_seconds, "seconds of run time"))
    for name, value, words in checks:
        limit = config.get(name)
        if limit is not None and value >= limit and not (name == "max_run_seconds" and value == 0):
            shown = round(value, 1) if isinstance(value, float) else value
            return Hit(f"{shown} {words} reached the limit {name}={limit}", {name: limit})
    return None


def _tool_scope(config: Mapping[str, Any], facts: Facts) -> Hit | None:
    agents = config.get("agents")
    if agents is not None and not _matches(agents, facts.agent):
        return None
    if _matches(config.get("deny"), facts.tool):
        return Hit(f"{facts.tool} is denied to agent {facts.agent or '(tool node)'}")
    allow = config.get("allow")
    if allow is not None and not _matches(allow, facts.tool):
        return Hit(f"{facts.tool} is not among the tools allowed to {facts.agent or 'tool nodes'}")
    return None


def _pii(config: Mapping[str, Any], facts: Facts) -> Hit | None:
    providers = config.get("providers")
    applies = (
        _matches(providers, facts.provider)
        if providers is not None
        else facts.provider != "scripted"
    )
    if not applies:
        return None
    kinds = pii_kinds(facts.text, config)
    if not kinds:
        return None
    return Hit(f"personal data ({', '.join(kinds)}) leaving for {facts.provider}", {"kinds": kinds})


def _content(config: Mapping[str, Any], facts: Facts) -> Hit | None:
    from agents.policies import patterns

    lowered = facts.text.lower()
    for phrase in config.get("phrases") or []:
        if str(phrase).lower() in lowered:
            return Hit(f"the output contains the blocked phrase {phrase!r}", {"phrase": phrase})
    for pattern in config.get("patterns") or []:
        name = pattern.get("name") or pattern["regex"]
        try:
            matched = patterns.search(pattern["regex"], facts.text)
        except patterns.PatternTimeout as exc:
            # Fail closed: what could not be checked in time counts as a match.
            return Hit(f"{exc}; treated as a match", {"pattern": name, "timeout": True})
        if matched:
            return Hit(f"the output matches the blocked pattern {name!r}", {"pattern": name})
    return None


POINTS_BY_KIND: dict[str, tuple[str, ...]] = {
    "approval": ("tool_call", "output"),
    "rate_limit": ("tool_call",),
    "quiet_hours": ("tool_call",),
    "budget": ("model_call",),
    # At tool calls only the run's duration is checked (a step queued in time may run late).
    "limits": ("step", "model_call", "tool_call"),
    "tool_scope": ("tool_call",),
    "pii": ("model_call",),
    "content": ("output",),
}

CHECKS: dict[str, Check] = {
    "approval": _approval,
    "quiet_hours": _quiet_hours,
    "budget": _budget,
    "limits": _limits,
    "tool_scope": _tool_scope,
    "pii": _pii,
    "content": _content,
}


def check(kind: str, config: Mapping[str, Any], facts: Facts, *, slug: str) -> Hit | None:
    if kind == "rate_limit":
        return _rate_limit(config, facts, slug=slug)
    return CHECKS[kind](config, facts)


def window_of(config: Mapping[str, Any]) -> int:
    """A rate limit's window in seconds (what ``flows`` counts calls over)."""
    return window_seconds(str(config["window"]))
