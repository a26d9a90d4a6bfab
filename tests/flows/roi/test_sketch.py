"""The duration sketch (flows/roi/sketch.py): within 1 % of the exact quantile, mergeable, and
the same when merged by PostgreSQL (the fold's ``flows_sketch_sum``) as in Python."""

from __future__ import annotations

import json
import random

import pytest
from django.db import connection

from flows.roi.sketch import (
    ALPHA,
    sketch_count,
    sketch_merge,
    sketch_of,
    sketch_quantile,
)


def _exact(values: list[float], q: float) -> float:
    """PostgreSQL's ``percentile_cont``: linear interpolation at rank ``q x (n - 1)``."""
    ordered = sorted(values)
    rank = q * (len(ordered) - 1)
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (rank - low) * (ordered[high] - ordered[low])


@pytest.mark.parametrize("q", [0.0, 0.5, 0.9, 0.95, 0.99, 1.0])
def test_quantiles_are_within_one_percent_whatever_the_scale(q: float) -> None:
    rng = random.Random(15)
    values = [rng.lognormvariate(8, 3) + 1 for _ in range(5_000)]  # 1 ms .. days
    found = sketch_quantile(sketch_of(values), q)
    exact = _exact(values, q)
    assert found is not None
    assert abs(found - exact) <= ALPHA * exact


def test_merged_sketches_answer_as_one_sketch_of_everything() -> None:
    rng = random.Random(7)
    days = [[rng.uniform(50, 500_000) for _ in range(300)] for _ in range(5)]
    merged: dict[str, int] = {}
    for day in days:
        sketch_merge(merged, sketch_of(day))
    everything = [value for day in days for value in day]
    assert merged == sketch_of(everything)
    assert sketch_count(merged) == 1_500
    p95 = sketch_quantile(merged, 0.95)
    assert p95 is not None and abs(p95 - _exact(everything, 0.95)) <= ALPHA * _exact(
        everything, 0.95
    )


def test_a_quantile_between_two_durations_interpolates_as_the_exact_figure_does() -> None:
    minutes: list[float] = [10 * 60_000, 20 * 60_000, 30 * 60_000, 40 * 60_000, 50 * 60_000]
    # rank 0.95 x 4 = 3.8: 40 min + 0.8 x 10 min = 48 min (not the 40 min element below it)
    p95 = sketch_quantile(sketch_of(minutes), 0.95)
    assert p95 is not None and abs(p95 - 48 * 60_000) <= ALPHA * 48 * 60_000
    assert _exact(minutes, 0.95) == 48 * 60_000


def test_a_three_second_run_reads_as_three_seconds_not_a_bucket_bound() -> None:
    found = sketch_quantile(sketch_of([3_100]), 0.5)
    assert found is not None and abs(found - 3_100) <= 31
    assert sketch_quantile({}, 0.5) is None
    assert sketch_quantile(sketch_of([0, 0, 5]), 0.5) == 0.0


@pytest.mark.django_db
def test_postgres_merges_sketches_as_python_does() -> None:
    parts = [sketch_of([1, 2, 3, 1000]), {}, sketch_of([3, 1000, 40_000])]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT flows_sketch_sum(s::jsonb) FROM unnest(%s::text[]) AS s",
            [[json.dumps(part) for part in parts]],
        )
        merged = cursor.fetchone()[0]
    merged = json.loads(merged) if isinstance(merged, str) else merged
    expected: dict[str, int] = {}
    for part in parts:
        sketch_merge(expected, part)
    assert {key: int(count) for key, count in merged.items()} == expected
