"""Headline ROI numbers of a period, for one flow or all (``flows.roi.period_totals``), read
from the rollups plus the runs still in flight.

Subflows: a subflow step bills its child run's tokens and cost as its own usage (model label
``subflow:<child flow slug>``, ``flows.engine.nodes.subflow``), so a parent run's and its
flow's cost and tokens include its children's (and theirs). A child's flow counts the same
usage on its own dashboard; ``totals`` over every flow leaves the subflow lines out so the
same money is not counted twice.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from flows.models import Flow, Run
from flows.roi import metrics
from flows.roi.models import Grain
from flows.roi.rollups import Cell, rollup_rows
from flows.roi.sums import Slice
from flows.states import RUN_ACTIVE

SUBFLOW_MODEL = "subflow:"


def flow_definition(flow: Flow) -> metrics.RoiDefinition:
    """The ROI definition of the flow's live version (else its latest)."""
    version = flow.live_version or flow.versions.order_by("-number").first()
    document = version.document if version else {}
    return metrics.RoiDefinition.parse((document or {}).get("roi"))


def _day_bounds(since: datetime | date, until: datetime | date) -> tuple[date, date]:
    """UTC days covering ``[since, until)`` for datetimes; dates are taken as inclusive."""
    if isinstance(since, datetime):
        since = since.astimezone(UTC).date()
    if isinstance(until, datetime):
        until = (until.astimezone(UTC) - timedelta(microseconds=1)).date()
    return since, until


def totals(
    *, since: datetime | date, until: datetime | date, flow: Flow | None = None
) -> dict[str, Any]:
    """Headline numbers (the contract of ``flows.roi.period_totals``). Over every flow, a
    subflow step's usage is left out (its child run's flow counts it), so no cost counts
    twice; for one flow it is part of that flow's cost."""
    first, last = _day_bounds(since, until)
    flows = [flow] if flow is not None else list(Flow.objects.select_related("live_version"))
    definitions = {one.id: flow_definition(one) for one in flows}
    slices: dict[int, Slice] = defaultdict(Slice)
    for cell in rollup_rows(
        since=first,
        until=last,
        flow_id=flow.id if flow is not None else None,
        by=("flow_id", "grain", "key", "key2"),
        grains=(Grain.RUN, Grain.USAGE, Grain.TOOL, Grain.APPROVAL, Grain.OUTCOME),
    ):
        if flow is None and _subflow_usage(cell):
            continue  # counted on the child flow's own runs
        slices[cell.dims["flow_id"]].add(cell)
    result: dict[str, Any] = {
        "runs": 0,
        "succeeded": 0,
        "failed": 0,
        "cancelled": 0,
        "cost": Decimal(0),
        "tokens": 0,
        "human_minutes": Decimal(0),
        "time_saved_minutes": Decimal(0),
        "money_saved": Decimal(0),
        "net_roi": Decimal(0),
        "outcomes": 0,
    }
    for flow_id, one in slices.items():
        value = one.value(definitions.get(flow_id) or metrics.RoiDefinition.parse(None))
        result["runs"] += one.runs["n"]
        result["succeeded"] += one.runs["ok"]
        result["failed"] += one.runs["failed"]
        result["cancelled"] += one.runs["cancelled"]
        result["cost"] += value.ai_cost
        result["tokens"] += one.usage["tokens_in"] + one.usage["tokens_out"]
        result["human_minutes"] += value.human_minutes
        result["time_saved_minutes"] += value.time_saved_minutes
        result["money_saved"] += value.money_saved
        result["net_roi"] += value.net_roi
        result["outcomes"] += sum(sums["n"] for sums in one.outcomes.values())
    result["in_flight"] = in_flight(first, last, flow)
    result["runs"] += result["in_flight"]
    return result


def _subflow_usage(cell: Cell) -> bool:
    """A subflow step's usage: its child run's, which the child's flow counts as well."""
    return cell.dims["grain"] == Grain.USAGE and str(cell.dims["key2"]).startswith(SUBFLOW_MODEL)


def in_flight(first: date, last: date, flow: Flow | None) -> int:
    """Runs started in the period that have not ended (live rows: the status index)."""
    start = datetime(first.year, first.month, first.day, tzinfo=UTC)
    end = datetime(last.year, last.month, last.day, tzinfo=UTC) + timedelta(days=1)
    runs = Run.objects.filter(status__in=RUN_ACTIVE, created_at__gte=start, created_at__lt=end)
    if flow is not None:
        runs = runs.filter(flow=flow)
    return runs.count()
