"""Gathering the facts policies need from the database, exactly: counts of effects in a
rate limit's window and spend in a budget's period, each read under a transaction-scoped
advisory lock so that checking and reserving is atomic for everyone racing for the same limit.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db import connection
from django.db.models import F, Q, Sum
from django.db.models.functions import Coalesce

from agents.models import Effect
from agents.policies import PolicyLike, Spend, window_of
from flows.guardrails.models import BudgetReservation
from flows.models import Run, Step


def advisory_locks(names: Iterable[str]) -> None:
    """Take a PostgreSQL advisory lock per name until the transaction ends, in a fixed order
    (sorted) so two callers wanting the same locks cannot deadlock."""
    keys = sorted({_lock_key(name) for name in names})
    with connection.cursor() as cursor:
        for key in keys:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [key])


def _lock_key(name: str) -> int:
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


def _call_filter(config: Mapping[str, Any]) -> Q:
    """Effects a rate limit counts: its ``tools`` (a trailing ``*`` is a prefix) and
    ``categories``; every effect when it names neither."""
    tools, categories = config.get("tools"), config.get("categories")
    if tools is None and categories is None:
        return Q()
    match = Q(category__in=list(categories or []))
    for name in tools or []:
        name = str(name)
        if name.endswith("*") and "*" not in name[:-1]:
            match |= Q(tool__startswith=name[:-1])
        else:
            match |= Q(tool=name)
    return match


def rate_counts(
    policies: Iterable[PolicyLike], *, subject: str, key: str, now: datetime
) -> dict[str, int]:
    """Per rate-limit policy: effects for ``subject`` in its window, this call's own key
    excluded (a retried call is not its own rival). Call under ``advisory_locks``."""
    counts = {}
    for policy in policies:
        since = now - timedelta(seconds=window_of(policy.config))
        counts[policy.slug] = (
            Effect.objects.filter(
                _call_filter(policy.config), subject=subject, created_at__gte=since
            )
            .exclude(key=key)
            .count()
        )
    return counts


def rate_lock_names(policies: Iterable[PolicyLike], *, subject: str) -> list[str]:
    return [f"rate:{policy.slug}:{subject}" for policy in policies]


def period_start(period: str, now: datetime) -> datetime | None:
    """Where a budget period starts (UTC); None for a run budget."""
    if period == "flow_day":
        return now.replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "flow_month":
        return now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    return None


def budget_lock_name(period: str, *, run_id: Any, flow_slug: str, now: datetime) -> str:
    start = period_start(period, now)
    return f"budget:run:{run_id}" if start is None else f"budget:{flow_slug}:{start.isoformat()}"


def spend(period: str, *, run_id: Any, flow_slug: str, now: datetime) -> Spend:
    """Used so far in a budget period: the reservations of model calls (estimates until they
    are settled, then what they used) plus the usage of steps that made none (steps that ran
    before the budget applied, or spent outside a guarded call)."""
    start = period_start(period, now)
    if start is None:
        reservations = BudgetReservation.objects.filter(run_id=run_id)
        steps = Step.objects.filter(run_id=run_id)
    else:
        reservations = BudgetReservation.objects.filter(flow_slug=flow_slug, created_at__gte=start)
        steps = Step.objects.filter(run__flow__slug=flow_slug, finished_at__gte=start)
    reserved = _totals(reservations, tokens=Sum("tokens"))
    unreserved = _totals(
        steps.exclude(id__in=reservations.values("step_id")),
        tokens=Sum(F("tokens_in") + F("tokens_out")),
    )
    return reserved + unreserved


def _totals(rows: Any, *, tokens: Any) -> Spend:
    totals = rows.aggregate(tokens=Coalesce(tokens, 0), cost=Coalesce(Sum("cost"), Decimal("0")))
    return Spend(tokens=int(totals["tokens"]), cost=Decimal(totals["cost"]))


#: How many of a node's latest succeeded steps a model call's estimate looks at...
ANSWER_HISTORY_STEPS = 20
#: ...among the flow's latest runs (what bounds the read for a node that seldom succeeds).
ANSWER_HISTORY_RUNS = 200
#: How long a process reuses a history it found (seconds): read on every guarded call.
ANSWER_HISTORY_TTL = 30.0
_answer_history: dict[tuple[Any, str, str], tuple[float, int]] = {}


def recent_answer_tokens(*, flow_id: Any, node_id: str, model: str) -> int | None:
    """The most output tokens one call of ``model`` gave among the latest
    ``ANSWER_HISTORY_STEPS`` succeeded steps of node ``node_id`` in flow ``flow_id`` (the same
    agent on the same prompt template) within the flow's latest ``ANSWER_HISTORY_RUNS`` runs,
    or None when none of them called ``model``.

    A step's calls are read from its routing entries (each cascade stage's model, output tokens
    and model turns; per call: the stage's output tokens over its turns, rounded up); a step
    without them counts as one call of ``step.model``. One query with bounded work, served by
    the runs' ``(flow, -created_at)`` index and the steps' ``(run, node_id, scope)`` key. A
    history found is kept ``ANSWER_HISTORY_TTL`` seconds per process, so a busy node reads it
    a few times a minute at most; "no history" is not kept, so a node's first answers count
    from the next call on."""
    key = (flow_id, node_id, model)
    now = time.monotonic()
    cached = _answer_history.get(key)
    if cached is not None and cached[0] > now:
        return cached[1]
    latest_runs = Run.objects.filter(flow_id=flow_id).order_by("-created_at").values("id")
    rows = (
        Step.objects.filter(
            run_id__in=latest_runs[:ANSWER_HISTORY_RUNS],
            node_id=node_id,
            status="succeeded",
            reused_from__isnull=True,
        )
        .order_by("-id")
        .values_list("model", "tokens_out", "input__routing")[:ANSWER_HISTORY_STEPS]
    )
    found: int | None = None
    for step_model, step_tokens_out, routing in rows:
        for tokens in _per_call_output(step_model, step_tokens_out, routing, model=model):
            found = tokens if found is None else max(found, tokens)
    if found is not None:
        if len(_answer_history) > 10_000:
            _answer_history.clear()
        _answer_history[key] = (now + ANSWER_HISTORY_TTL, found)
    return found


def _per_call_output(
    step_model: str, step_tokens_out: int, routing: Any, *, model: str
) -> Iterable[int]:
    if not isinstance(routing, list) or not routing:
        if step_model == model and step_tokens_out:
            yield step_tokens_out
        return
    for stage in routing:
        if not isinstance(stage, dict) or model not in (
            stage.get("configured_model"),
            stage.get("model"),
        ):
            continue
        try:
            turns, tokens_out = int(stage.get("turns") or 0), int(stage.get("tokens_out") or 0)
        except (TypeError, ValueError):
            continue
        if turns > 0:
            yield -(-tokens_out // turns)
