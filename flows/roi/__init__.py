"""ROI metrics: what each flow is worth, read from incrementally maintained rollups.

Modules: ``models`` (facts and rollup rows), ``facts`` (recording facts on the engine's hot
path), ``rollups`` (folding facts into per-day rollups, reading them back), ``metrics`` (the ROI
arithmetic and percentiles), ``sums`` (measures summed over cells), ``totals`` (headline
numbers of a period), ``selectors`` (dashboards, leaderboard, bottlenecks), ``export`` (CSV
and JSON of a dashboard), ``api`` and ``views`` (the JSON API and the pages).
The package's public entry point for other parts of the app is ``period_totals``.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flows.models import Flow


def period_totals(*, since: datetime, until: datetime, flow: Flow | None = None) -> dict[str, Any]:
    """Headline numbers of runs started in the UTC days covering ``[since, until)``, for one
    flow or all: runs, in_flight, succeeded, failed, cancelled, cost (Decimal, model + tool),
    tokens, human_minutes, time_saved_minutes, money_saved, net_roi (Decimal), outcomes.
    Imported lazily: ``flows.models`` imports this package's models while it loads."""
    from flows.roi.totals import totals

    return totals(since=since, until=until, flow=flow)


__all__ = ["period_totals"]
