"""Sums of rollup cells: the measures of any set of cells (``Sums``) and everything the value
and volume numbers need for one period, day or version (``Slice``).

Percentiles state their precision: ``exact`` (computed from raw rows and set on ``Sums.exact``
by the dashboard), ``±1 %`` (every duration is in the DDSketch, ``flows.roi.sketch``) or
``bucket`` (rollups folded before the sketch existed: the old histogram's interpolation).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from flows.roi import metrics
from flows.roi.models import BUCKET_FIELDS, MONEY_FIELDS, Grain
from flows.roi.rollups import Cell
from flows.roi.sketch import PRECISION, Sketch, sketch_count, sketch_merge, sketch_quantile

EXACT = "exact"
BUCKET = "bucket"


class Sums:
    """Measures summed over any number of cells (zero when there are none)."""

    def __init__(self, cells: list[Cell] | None = None) -> None:
        self.values: dict[str, Any] = defaultdict(int)
        self.sketch: Sketch = {}
        #: Exact quantiles (q -> ms) computed from raw rows, when the dashboard has them.
        self.exact: dict[float, float | None] | None = None
        for cell in cells or []:
            self.add(cell)

    def add(self, cell: Cell) -> None:
        self.add_values(cell.values)

    def add_values(self, values: dict[str, Any]) -> None:
        mine = self.values
        for name, value in values.items():
            if name == "sketch":
                sketch_merge(self.sketch, value or {})
            elif value:
                mine[name] += value

    def __getitem__(self, name: str) -> Any:
        return self.money(name) if name in MONEY_FIELDS else self.values[name]

    def money(self, name: str) -> Decimal:
        """The sum of the money measure ``name`` (one of ``MONEY_FIELDS``)."""
        return Decimal(self.values[name])

    @property
    def buckets(self) -> list[int]:
        return [self.values[name] for name in BUCKET_FIELDS]

    @property
    def precision(self) -> str:
        """``exact`` (raw rows), ``±1 %`` (every duration is in the sketch) or ``bucket``."""
        if self.exact is not None:
            return EXACT
        if sketch_count(self.sketch) >= self.values["durations"]:
            return PRECISION
        return BUCKET

    def p(self, q: float) -> float | None:
        """The ``q`` quantile of the durations in ms, at ``precision``."""
        if self.exact is not None:
            return self.exact.get(q)
        if sketch_count(self.sketch) >= self.values["durations"]:
            return sketch_quantile(self.sketch, q)
        return metrics.percentile_ms(self.buckets, q)

    def avg(self, total: str, count: str) -> float | None:
        return metrics.ratio(self[total], self[count])


@dataclass
class Slice:
    """Everything the value and volume numbers need, for one set of cells (a period, a day,
    a version)."""

    runs: Sums = field(default_factory=Sums)
    usage: Sums = field(default_factory=Sums)
    tools: Sums = field(default_factory=Sums)
    approvals: Sums = field(default_factory=Sums)
    outcomes: dict[str, Sums] = field(default_factory=lambda: defaultdict(Sums))

    def add(self, cell: Cell) -> None:
        self.add_values(cell.dims["grain"], cell.dims["key"], cell.values)

    def add_values(self, grain: str, key: str, values: dict[str, Any]) -> None:
        if grain == Grain.RUN:
            self.runs.add_values(values)
        elif grain == Grain.USAGE:
            self.usage.add_values(values)
        elif grain == Grain.TOOL:
            self.tools.add_values(values)
        elif grain == Grain.APPROVAL:
            self.approvals.add_values(values)
        elif grain == Grain.OUTCOME:
            self.outcomes[key].add_values(values)

    @property
    def ai_cost(self) -> Decimal:
        return self.usage.money("cost") + self.tools.money("cost")

    def value(self, definition: metrics.RoiDefinition) -> metrics.Value:
        return metrics.roi_value(
            definition,
            succeeded=self.runs["ok"],
            outcome_runs={name: sums["ok"] for name, sums in self.outcomes.items()},
            review_ms=self.approvals["review_ms"],
            ai_cost=self.ai_cost,
        )
