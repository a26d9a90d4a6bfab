"""The ROI arithmetic and the percentile estimate from histogram buckets."""

from __future__ import annotations

from decimal import Decimal

from flows.roi.facts import bucket_field
from flows.roi.metrics import RoiDefinition, percentile_ms, roi_value
from flows.roi.models import BUCKETS


def _buckets(**counts: int) -> list[int]:
    found = [0] * BUCKETS
    for name, count in counts.items():
        found[int(name[1:])] = count
    return found


def test_durations_land_in_log_scale_buckets() -> None:
    assert bucket_field(0) == "h00"
    assert bucket_field(99) == "h00"
    assert bucket_field(100) == "h01"  # bounds are exclusive upper bounds
    assert bucket_field(2_400_000) == "h13"  # 40 min in [30 min, 1 h)
    assert bucket_field(10**12) == "h19"  # the open last bucket


def test_percentiles_interpolate_inside_the_bucket_holding_the_rank() -> None:
    # 10 durations: 4 in [250, 500) ms, 6 in [1000, 2500) ms.
    buckets = _buckets(h02=4, h04=6)
    # p50: rank ceil(0.5 x 10) = 5, the 1st of 6 in [1000, 2500): 1000 + 1500 x 1/6 = 1250.
    assert percentile_ms(buckets, 0.5) == 1250
    # p95: rank ceil(9.5) = 10, the 6th of 6: 1000 + 1500 x 6/6 = 2500.
    assert percentile_ms(buckets, 0.95) == 2500
    # p20: rank 2, the 2nd of 4 in [250, 500): 250 + 250 x 2/4 = 375.
    assert percentile_ms(buckets, 0.2) == 375
    assert percentile_ms([0] * BUCKETS, 0.5) is None
    assert percentile_ms(_buckets(h19=3), 0.5) == 172_800_000  # open bucket: its lower bound


def test_cases_are_runs_with_the_success_outcome_when_the_flow_names_one() -> None:
    definition = RoiDefinition.parse(
        {"baseline_minutes": 12, "hourly_cost": "45.50", "success_outcome": "meeting_booked"}
    )
    value = roi_value(
        definition,
        succeeded=10,
        outcome_runs={"meeting_booked": 4, "other": 9},
        review_ms=30 * 60_000,  # 30 human minutes
        ai_cost=Decimal("1.25"),
    )
    assert value.cases == 4
    assert value.time_saved_minutes == Decimal(12 * 4 - 30)  # 18
    assert value.money_saved == Decimal("13.65")  # 18 x 45.50 / 60
    assert value.net_roi == Decimal("12.40")  # 13.65 - 1.25


def test_without_a_success_outcome_cases_are_succeeded_runs() -> None:
    value = roi_value(
        RoiDefinition.parse({"baseline_minutes": 5, "hourly_cost": 60}),
        succeeded=3,
        outcome_runs={},
        review_ms=90_000,  # 1.5 min
        ai_cost=Decimal(0),
    )
    assert value.cases == 3
    assert value.time_saved_minutes == Decimal("13.5")  # 5 x 3 - 1.5
    assert value.net_roi == Decimal("13.5")  # 13.5 min x 60/h / 60


def test_a_missing_or_malformed_roi_block_values_nothing() -> None:
    for roi in (None, {}, {"baseline_minutes": "lots", "hourly_cost": -3}, {"hourly_cost": True}):
        definition = RoiDefinition.parse(roi)
        assert (definition.baseline_minutes, definition.hourly_cost) == (0, 0)
    assert RoiDefinition.parse(None).cases_rule == "succeeded runs"
