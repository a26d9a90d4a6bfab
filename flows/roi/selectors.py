"""Reads shaped for the ROI pages, the JSON API and the home page, all from rollups.

Periods are whole UTC days (``since`` .. ``until`` inclusive) of the runs' start: every fact
about a run (its steps, its decisions, outcomes reported days later) counts on the day and
version the run started on, so a period's numbers describe the runs started in it.

Percentiles (p50/p95 of run and step durations) state their precision. A flow's dashboard
computes them **exactly** from the raw rows (PostgreSQL ``percentile_cont``, linear
interpolation between the two nearest durations) when the period ended at most
``EXACT_MAX_RUNS`` runs and ``EXACT_MAX_STEPS`` steps — an index range scan of that size stays
well inside the page's time budget; above that they come from the rollups' DDSketch
(``flows.roi.sketch``), interpolated the same way and so within **±1 %** of that exact
figure. Rollups
folded before the sketch existed fall back to the old histogram's bucket interpolation,
labelled ``bucket``. ``Dashboard.precision`` says which one the numbers are.

Headline totals (``flows.roi.totals``) and the sums every number is made of
(``flows.roi.sums``) have modules of their own.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db import connection
from django.db.models import Count

from flows.models import Approval, Flow, FlowVersion, Step
from flows.roi import metrics
from flows.roi.models import Grain
from flows.roi.rollups import rollup_rows
from flows.roi.sums import Slice, Sums
from flows.roi.totals import flow_definition, in_flight
from flows.states import ApprovalStatus, StepStatus

PRESETS = (7, 30, 90)
SLICE_GRAINS = frozenset({Grain.RUN, Grain.USAGE, Grain.TOOL, Grain.APPROVAL, Grain.OUTCOME})
MAX_DAYS = 366
EXACT_MAX_RUNS = 20_000
EXACT_MAX_STEPS = 100_000


# --- the per-flow dashboard ------------------------------------------------------------------


@dataclass
class Row:
    """One line of a dashboard table: a label and named values (also one CSV line)."""

    label: str
    values: dict[str, Any]

    def __getitem__(self, name: str) -> Any:
        return self.values[name]


@dataclass
class Dashboard:
    flow: Flow
    since: date
    until: date
    definition: metrics.RoiDefinition
    total: Slice
    value: metrics.Value
    in_flight: int
    days: list[Row]
    versions: list[Row]
    agents: list[Row]
    models: list[Row]
    tools: list[Row]
    outcomes: list[Row]
    reasons: list[Row]
    nodes: list[Row]

    @property
    def precision(self) -> str:
        """How exact the page's percentiles are: ``exact``, ``±1 %`` or ``bucket``."""
        return self.total.runs.precision

    @property
    def volume(self) -> dict[str, Any]:
        runs = self.total.runs
        return {
            "runs": runs["n"],
            "succeeded": runs["ok"],
            "failed": runs["failed"],
            "cancelled": runs["cancelled"],
            "in_flight": self.in_flight,
            "success_rate": metrics.ratio(runs["ok"], runs["n"]),
            "p50_ms": runs.p(0.5),
            "p95_ms": runs.p(0.95),
            "avg_ms": runs.avg("duration_ms", "durations"),
            "percentiles": runs.precision,
        }

    @property
    def cost(self) -> dict[str, Any]:
        usage = self.total.usage
        return {
            "tokens_in": usage["tokens_in"],
            "tokens_out": usage["tokens_out"],
            "model_cost": usage["cost"],
            "tool_cost": self.total.tools["cost"],
            "ai_cost": self.total.ai_cost,
            "cost_per_run": (
                (self.total.ai_cost / self.total.runs["n"]).quantize(metrics.MONEY)
                if self.total.runs["n"]
                else None
            ),
        }

    @property
    def quality(self) -> dict[str, Any]:
        a = self.total.approvals
        human = a["approved"] + a["edited"] + a["rejected"] + a["sent_back"]
        return {
            "decided": human + a["auto_decided"],
            "human_decisions": human,
            "approved": a["approved"],
            "edited": a["edited"],
            "rejected": a["rejected"],
            "sent_back": a["sent_back"],
            "auto_decided": a["auto_decided"],
            "approval_rate": metrics.ratio(a["approved"] + a["edited"], human),
            "edit_rate": metrics.ratio(a["edited"], a["approved"] + a["edited"]),
            "avg_edit_distance": metrics.ratio(a["edit_distance"], a["edited"]),
            "escalations": a["escalations"],
            # Review time (``flows.approvals.review``): measured in the inbox, reported by API
            # clients, or not measured; the average is over the decisions that have one.
            "reviewed": a["reviewed"],
            "reported": a["reported"],
            "unmeasured": max(human - a["reviewed"] - a["reported"], 0),
            "avg_review_minutes": (
                float(metrics.human_minutes(a["review_ms"])) / (a["reviewed"] + a["reported"])
                if a["reviewed"] + a["reported"]
                else None
            ),
        }


def period_parse(params: Any, *, today: date) -> tuple[date, date, str]:
    """(since, until, preset) from query parameters: ``days`` = 7 | 30 | 90, or ``since`` and
    ``until`` as ISO dates. Raises ``ValueError`` with a message naming the parameter."""
    since_text, until_text = params.get("since"), params.get("until")
    if since_text or until_text:
        try:
            since = date.fromisoformat(str(since_text or ""))
        except ValueError:
            raise ValueError("since: give a date as YYYY-MM-DD") from None
        try:
            until = date.fromisoformat(str(until_text)) if until_text else today
        except ValueError:
            raise ValueError("until: give a date as YYYY-MM-DD") from None
        if until < since:
            raise ValueError("until: must not be before since")
        if (until - since).days >= MAX_DAYS:
            raise ValueError(f"since: a period is at most {MAX_DAYS} days")
        return since, until, "custom"
    days_text = params.get("days") or "30"
    if days_text not in {str(p) for p in PRESETS}:
        raise ValueError("days: choose 7, 30 or 90")
    days = int(days_text)
    return today - timedelta(days=days - 1), today, str(days)


def _row_values(one: Slice, definition: metrics.RoiDefinition) -> dict[str, Any]:
    value = one.value(definition)
    runs = one.runs
    return {
        "runs": runs["n"],
        "succeeded": runs["ok"],
        "failed": runs["failed"],
        "cancelled": runs["cancelled"],
        "success_rate": metrics.ratio(runs["ok"], runs["n"]),
        "p50_ms": runs.p(0.5),
        "p95_ms": runs.p(0.95),
        "tokens": one.usage["tokens_in"] + one.usage["tokens_out"],
        "ai_cost": value.ai_cost,
        "cases": value.cases,
        "human_minutes": value.human_minutes,
        "time_saved_minutes": value.time_saved_minutes,
        "money_saved": value.money_saved,
        "net_roi": value.net_roi,
        "outcomes": sum(sums["n"] for sums in one.outcomes.values()),
    }


def flow_dashboard(*, flow: Flow, since: date, until: date) -> Dashboard:
    """The per-flow dashboard: one grouped read of rollups (plus unfolded facts), two indexed
    counts of live rows (runs in flight, runs waiting at each node now)."""
    definition = flow_definition(flow)
    cells = rollup_rows(since=since, until=until, flow_id=flow.id)
    total = Slice()
    by_day: dict[date, Slice] = defaultdict(Slice)
    by_version: dict[int, Slice] = defaultdict(Slice)
    keyed: dict[tuple[str, str, str], Sums] = defaultdict(Sums)
    for cell in cells:
        dims = cell.dims
        grain = dims["grain"]
        keyed[(grain, dims["key"], dims["key2"])].add_values(cell.values)
        if grain in SLICE_GRAINS:
            by_day[dims["day"]].add_values(grain, dims["key"], cell.values)
            by_version[dims["version_id"]].add_values(grain, dims["key"], cell.values)
    for (grain, key, _), sums in keyed.items():
        total.add_values(grain, key, {**sums.values, "sketch": sums.sketch})
    exact = (
        total.runs["durations"] <= EXACT_MAX_RUNS
        and sum(sums["durations"] for (g, _, _), sums in keyed.items() if g == Grain.NODE)
        <= EXACT_MAX_STEPS
    )
    if exact:
        _exact_percentiles(flow, since, until, total, by_day, by_version, keyed)
    numbers = dict(FlowVersion.objects.filter(flow=flow).values_list("id", "number"))
    days = []
    day = since
    while day <= until:
        days.append(Row(day.isoformat(), _row_values(by_day.get(day) or Slice(), definition)))
        day += timedelta(days=1)
    versions = [
        Row(f"v{numbers.get(version_id, '?')}", _row_values(one, definition))
        for version_id, one in sorted(by_version.items(), key=lambda kv: numbers.get(kv[0], 0))
    ]
    return Dashboard(
        flow=flow,
        since=since,
        until=until,
        definition=definition,
        total=total,
        value=total.value(definition),
        in_flight=in_flight(since, until, flow),
        days=days,
        versions=versions,
        agents=_usage_rows(keyed, by_model=False),
        models=_usage_rows(keyed, by_model=True),
        tools=[
            Row(key, {"calls": sums["n"], "cost": sums["cost"]})
            for (grain, key, _), sums in sorted(keyed.items())
            if grain == Grain.TOOL
        ],
        outcomes=_outcome_rows(keyed, total.runs["n"]),
        reasons=sorted(
            (
                Row(key2, {"node": key, "count": sums["n"]})
                for (grain, key, key2), sums in keyed.items()
                if grain == Grain.REASON
            ),
            key=lambda row: (-row["count"], row.label),
        ),
        nodes=_node_rows(flow, keyed),
    )


_EXACT_RUNS = """
    SELECT GROUPING(version_id), GROUPING(day), version_id, day,
           percentile_cont(ARRAY[0.5, 0.95]) WITHIN GROUP (ORDER BY ms)
    FROM (SELECT version_id, (timezone('UTC', created_at))::date AS day,
                 EXTRACT(EPOCH FROM finished_at - created_at) * 1000 AS ms
          FROM flows_run
          WHERE flow_id = %s AND created_at >= %s AND created_at < %s
            AND finished_at IS NOT NULL) durations
    GROUP BY GROUPING SETS ((), (version_id), (day))
"""
_EXACT_STEPS = """
    SELECT s.node_id, percentile_cont(0.95) WITHIN GROUP (
               ORDER BY EXTRACT(EPOCH FROM s.finished_at - s.started_at) * 1000)
    FROM flows_run r JOIN flows_step s ON s.run_id = r.id
    WHERE r.flow_id = %s AND r.created_at >= %s AND r.created_at < %s
      AND s.reused_from_id IS NULL AND s.status <> 'skipped'
      AND s.started_at IS NOT NULL AND s.finished_at IS NOT NULL
    GROUP BY s.node_id
"""


def _exact_percentiles(
    flow: Flow,
    since: date,
    until: date,
    total: Slice,
    by_day: dict[date, Slice],
    by_version: dict[int, Slice],
    keyed: dict[tuple[str, str, str], Sums],
) -> None:
    """Set exact p50/p95 from the raw rows (runs: created -> finished, as the facts measure
    them; steps: started -> finished, neither reused nor skipped) on every ``Sums`` that shows
    a percentile. Two grouped queries over the flow's runs of the period."""
    start = datetime(since.year, since.month, since.day, tzinfo=UTC)
    end = datetime(until.year, until.month, until.day, tzinfo=UTC) + timedelta(days=1)
    total.runs.exact = {}
    for one in (*by_day.values(), *by_version.values()):
        one.runs.exact = {}
    with connection.cursor() as cursor:
        cursor.execute(_EXACT_RUNS, [flow.id, start, end])
        for no_version, no_day, version_id, day, quantiles in cursor.fetchall():
            if quantiles is None:  # the grand total of no rows
                continue
            found: dict[float, float | None] = {
                0.5: float(quantiles[0]),
                0.95: float(quantiles[1]),
            }
            if no_version and no_day:
                total.runs.exact = found
            elif not no_version and version_id in by_version:
                by_version[version_id].runs.exact = found
            elif not no_day and day in by_day:
                by_day[day].runs.exact = found
        cursor.execute(_EXACT_STEPS, [flow.id, start, end])
        steps = {node_id: float(p95) for node_id, p95 in cursor.fetchall() if p95 is not None}
    for (grain, key, _), sums in keyed.items():
        if grain == Grain.NODE:
            sums.exact = {0.95: steps.get(key)}


def _usage_rows(keyed: dict[tuple[str, str, str], Sums], *, by_model: bool) -> list[Row]:
    merged: dict[str, Sums] = defaultdict(Sums)
    for (grain, agent, model), sums in keyed.items():
        if grain == Grain.USAGE:
            for name, value in sums.values.items():
                merged[model if by_model else agent].values[name] += value
    return [
        Row(
            label or "(none)",
            {
                "calls": sums["n"],
                "tokens_in": sums["tokens_in"],
                "tokens_out": sums["tokens_out"],
                "cost": sums["cost"],
            },
        )
        for label, sums in sorted(merged.items(), key=lambda kv: -kv[1]["cost"])
    ]


def _outcome_rows(keyed: dict[tuple[str, str, str], Sums], runs: int) -> list[Row]:
    return [
        Row(
            key,
            {
                "events": sums["n"],
                "runs": sums["ok"],
                "per_100_runs": (Decimal(sums["ok"]) * 100 / runs).quantize(Decimal("0.1"))
                if runs
                else None,
                "value": sums["value"],
            },
        )
        for (grain, key, _), sums in sorted(keyed.items())
        if grain == Grain.OUTCOME
    ]


def _node_rows(flow: Flow, keyed: dict[tuple[str, str, str], Sums]) -> list[Row]:
    """The bottleneck table: per node, activations, average wait before it started, average
    and p95 duration, failures, and (live rows) steps waiting there and approvals pending."""
    waiting = dict(
        Step.objects.filter(run__flow=flow, status=StepStatus.WAITING)
        .values_list("node_id")
        .annotate(n=Count("id"))
        .values_list("node_id", "n")
    )
    pending = dict(
        Approval.objects.filter(run__flow=flow, status=ApprovalStatus.PENDING)
        .values_list("step__node_id")
        .annotate(n=Count("id"))
        .values_list("step__node_id", "n")
    )
    approvals = {key: sums for (grain, key, _), sums in keyed.items() if grain == Grain.APPROVAL}
    nodes: dict[str, Row] = {}
    for (grain, key, node_type), sums in keyed.items():
        if grain != Grain.NODE:
            continue
        review = approvals.get(key)
        nodes[key] = Row(
            key,
            {
                "type": node_type,
                "steps": sums["n"],
                "failed": sums["failed"],
                "avg_wait_ms": sums.avg("wait_ms", "waits"),
                "avg_ms": sums.avg("duration_ms", "durations"),
                "p95_ms": sums.p(0.95),
                "avg_review_minutes": (
                    float(metrics.human_minutes(review["review_ms"]))
                    / (review["reviewed"] + review["reported"])
                    if review is not None and review["reviewed"] + review["reported"]
                    else None
                ),
                "waiting_now": waiting.get(key, 0),
                "approvals_pending": pending.get(key, 0),
            },
        )
    for key in set(waiting) | set(pending):
        nodes.setdefault(
            key,
            Row(
                key,
                {
                    "type": "",
                    "steps": 0,
                    "failed": 0,
                    "avg_wait_ms": None,
                    "avg_ms": None,
                    "p95_ms": None,
                    "avg_review_minutes": None,
                    "waiting_now": waiting.get(key, 0),
                    "approvals_pending": pending.get(key, 0),
                },
            ),
        )
    return sorted(nodes.values(), key=lambda row: -(row["avg_wait_ms"] or 0) - (row["avg_ms"] or 0))


# --- the cross-flow leaderboard ---------------------------------------------------------------


def leaderboard(*, since: date, until: date) -> list[Row]:
    """Every flow with its period numbers, best net ROI first."""
    flows = {flow.id: flow for flow in Flow.objects.select_related("live_version")}
    slices: dict[int, Slice] = defaultdict(Slice)
    for cell in rollup_rows(
        since=since,
        until=until,
        by=("flow_id", "grain", "key"),
        grains=(Grain.RUN, Grain.USAGE, Grain.TOOL, Grain.APPROVAL, Grain.OUTCOME),
    ):
        slices[cell.dims["flow_id"]].add(cell)
    rows = []
    for flow_id, flow in flows.items():
        values = _row_values(slices.get(flow_id) or Slice(), flow_definition(flow))
        rows.append(Row(flow.name, {"slug": flow.slug, "demo": flow.demo, **values}))
    return sorted(rows, key=lambda row: (-row["net_roi"], -row["runs"], row.label))
