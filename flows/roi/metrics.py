"""The ROI arithmetic and the percentile estimate, as pure functions of rollup sums.

Definitions (shown on the dashboard as well):
- **cases**: when the flow's ``roi.success_outcome`` names a metric, the runs that got at least
  one outcome event of that metric (however late it arrived); without one, the succeeded runs.
- **human minutes**: the review time of people's decisions, as ``flows.approvals.review``
  defines it: minutes an approval was on screen, visible, focused and not idle in the inbox
  (summed across openings and people), or as reported by an API client; decisions with no
  measure add nothing and are counted as "not measured" (automatic decisions take none).
- **time saved** = ``baseline_minutes`` x cases - human minutes.
- **money saved** = time saved x ``hourly_cost`` / 60.
- **AI cost** = model cost (tokens priced per agent) + tool call costs.
- **net ROI** = money saved - AI cost. Money is Decimal, in the one currency of the install.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from flows.roi.models import BUCKET_BOUNDS_MS

MINUTES = Decimal("0.001")
MONEY = Decimal("0.000001")


@dataclass(frozen=True)
class RoiDefinition:
    baseline_minutes: Decimal
    hourly_cost: Decimal
    success_outcome: str

    @classmethod
    def parse(cls, roi: Any) -> RoiDefinition:
        roi = roi if isinstance(roi, dict) else {}

        def number(name: str) -> Decimal:
            value = roi.get(name)
            if isinstance(value, bool) or not isinstance(value, int | float | str):
                return Decimal(0)
            try:
                found = Decimal(str(value))
            except ArithmeticError:
                return Decimal(0)
            return found if found.is_finite() and found >= 0 else Decimal(0)

        outcome = roi.get("success_outcome")
        return cls(
            baseline_minutes=number("baseline_minutes"),
            hourly_cost=number("hourly_cost"),
            success_outcome=outcome.strip() if isinstance(outcome, str) else "",
        )

    @property
    def cases_rule(self) -> str:
        if self.success_outcome:
            return f"runs with a {self.success_outcome!r} outcome"
        return "succeeded runs"


@dataclass(frozen=True)
class Value:
    cases: int
    human_minutes: Decimal
    time_saved_minutes: Decimal
    money_saved: Decimal
    ai_cost: Decimal
    net_roi: Decimal


def human_minutes(review_ms: int) -> Decimal:
    """Review milliseconds (``flows.approvals.review``) as minutes, to the thousandth."""
    return (Decimal(review_ms) / 60_000).quantize(MINUTES, rounding=ROUND_HALF_UP)


def roi_value(
    definition: RoiDefinition,
    *,
    succeeded: int,
    outcome_runs: dict[str, int],
    review_ms: int,
    ai_cost: Decimal,
) -> Value:
    """The value of a set of runs. ``outcome_runs`` maps a metric to how many runs got it."""
    if definition.success_outcome:
        cases = outcome_runs.get(definition.success_outcome, 0)
    else:
        cases = succeeded
    human = human_minutes(review_ms)
    saved = definition.baseline_minutes * cases - human
    money = (saved * definition.hourly_cost / 60).quantize(MONEY, rounding=ROUND_HALF_UP)
    return Value(
        cases=cases,
        human_minutes=human,
        time_saved_minutes=saved,
        money_saved=money,
        ai_cost=ai_cost,
        net_roi=money - ai_cost,
    )


def percentile_ms(buckets: list[int], q: float) -> float | None:
    """The ``q`` quantile (0..1) of durations counted in the histogram ``buckets``: the bucket
    holding the rank-th smallest duration (rank = ceil(q x count)), interpolated linearly
    inside it. Exact to within that bucket's bounds; the open last bucket reports its lower
    bound. None when nothing was counted."""
    total = sum(buckets)
    if total == 0:
        return None
    rank = max(1, math.ceil(Decimal(str(q)) * total))
    seen = 0
    for index, count in enumerate(buckets):
        if count and seen + count >= rank:
            low = BUCKET_BOUNDS_MS[index - 1] if index else 0
            if index >= len(BUCKET_BOUNDS_MS):
                return float(low)
            high = BUCKET_BOUNDS_MS[index]
            return low + (high - low) * (rank - seen) / count
        seen += count
    return None


def ratio(part: int | Decimal, whole: int | Decimal) -> float | None:
    return float(part) / float(whole) if whole else None
