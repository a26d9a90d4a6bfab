"""A smoke size of the ROI benchmark's seeding (tests/bench/test_roi_bench.py), inside
``make test``: the synthetic rows' rollups give the same counts and sums as the naive
aggregate over the raw tables, so the benchmark compares two answers to one question."""

from __future__ import annotations

import pytest
from django.utils import timezone

from flows.roi.selectors import flow_dashboard
from tests.support.roi_seed import naive_dashboard, seed

pytestmark = pytest.mark.django_db


def test_seeded_rollups_agree_with_the_naive_aggregate() -> None:
    seeded = seed(steps=5_000, today=timezone.now().date())
    board = flow_dashboard(flow=seeded.flow, since=seeded.since, until=seeded.until)
    naive = naive_dashboard(flow_id=seeded.flow.id, since=seeded.since, until=seeded.until)
    seeded.check(board, naive)
    assert board.volume["runs"] == 1_000
    assert sum(row["runs"] for row in board.days) == 1_000
