"""Rollup rows for the ROI dashboards: facts appended on the engine's hot path, folded into
per-day sums by a periodic task (``flows.roi.rollups``)."""

from __future__ import annotations

from decimal import Decimal

from django.db import models

# Upper bounds (ms, exclusive) of the duration histogram's buckets; the last bucket is open.
# Log-scale (roughly 1 - 2.5 - 5 per decade) so p50/p95 come from bucket counts with a
# bounded relative error whatever the flow's time scale.
BUCKET_BOUNDS_MS: tuple[int, ...] = (
    100,
    250,
    500,
    1_000,
    2_500,
    5_000,
    10_000,
    30_000,
    60_000,
    120_000,
    300_000,
    600_000,
    1_800_000,
    3_600_000,
    7_200_000,
    21_600_000,
    43_200_000,
    86_400_000,
    172_800_000,
)
BUCKETS = len(BUCKET_BOUNDS_MS) + 1
BUCKET_FIELDS: tuple[str, ...] = tuple(f"h{i:02d}" for i in range(BUCKETS))

# Additive measures (every one is summed when folding and when reading).
COUNT_FIELDS: tuple[str, ...] = (
    "n",
    "ok",
    "failed",
    "cancelled",
    "skipped",
    "duration_ms",
    "durations",
    *BUCKET_FIELDS,
    "wait_ms",
    "waits",
    "tokens_in",
    "tokens_out",
    "review_ms",
    "reviewed",
    "reported",
    "approved",
    "edited",
    "rejected",
    "sent_back",
    "auto_decided",
    "edit_distance",
    "escalations",
)
MONEY_FIELDS: tuple[str, ...] = ("cost", "value")
MEASURES: tuple[str, ...] = COUNT_FIELDS + MONEY_FIELDS


class Grain(models.TextChoices):
    """What a fact row counts; ``key``/``key2`` mean different things per grain."""

    RUN = "run"  # a run ended: key "" (counts by status, end-to-end duration, tokens, cost)
    NODE = "node"  # a step ended: key node id, key2 node type (status, wait, duration)
    USAGE = "usage"  # model usage of a step: key agent slug, key2 model (tokens, cost)
    TOOL = "tool"  # tool calls of a step: key tool name (calls, cost)
    APPROVAL = "approval"  # a decision or an escalation: key node id, key2 agent
    REASON = "reason"  # a rejection with a reason: key node id, key2 the reason
    OUTCOME = "outcome"  # an outcome event: key metric (events, first per run in ``ok``, value)


class Measures(models.Model):
    n = models.BigIntegerField(default=0)
    ok = models.BigIntegerField(default=0)
    failed = models.BigIntegerField(default=0)
    cancelled = models.BigIntegerField(default=0)
    skipped = models.BigIntegerField(default=0)
    duration_ms = models.BigIntegerField(default=0)
    durations = models.BigIntegerField(default=0)
    wait_ms = models.BigIntegerField(default=0)
    waits = models.BigIntegerField(default=0)
    tokens_in = models.BigIntegerField(default=0)
    tokens_out = models.BigIntegerField(default=0)
    cost = models.DecimalField(max_digits=20, decimal_places=6, default=Decimal("0"))
    review_ms = models.BigIntegerField(default=0)
    reviewed = models.BigIntegerField(default=0)
    # Human decisions whose review time an API client reported (``reviewed``: measured in the
    # inbox); ``review_ms`` sums both kinds. See ``flows.approvals.review``.
    reported = models.BigIntegerField(default=0)
    approved = models.BigIntegerField(default=0)
    edited = models.BigIntegerField(default=0)
    rejected = models.BigIntegerField(default=0)
    sent_back = models.BigIntegerField(default=0)
    auto_decided = models.BigIntegerField(default=0)
    edit_distance = models.BigIntegerField(default=0)
    escalations = models.BigIntegerField(default=0)
    value = models.DecimalField(max_digits=24, decimal_places=6, default=Decimal("0"))
    h00 = models.BigIntegerField(default=0)
    h01 = models.BigIntegerField(default=0)
    h02 = models.BigIntegerField(default=0)
    h03 = models.BigIntegerField(default=0)
    h04 = models.BigIntegerField(default=0)
    h05 = models.BigIntegerField(default=0)
    h06 = models.BigIntegerField(default=0)
    h07 = models.BigIntegerField(default=0)
    h08 = models.BigIntegerField(default=0)
    h09 = models.BigIntegerField(default=0)
    h10 = models.BigIntegerField(default=0)
    h11 = models.BigIntegerField(default=0)
    h12 = models.BigIntegerField(default=0)
    h13 = models.BigIntegerField(default=0)
    h14 = models.BigIntegerField(default=0)
    h15 = models.BigIntegerField(default=0)
    h16 = models.BigIntegerField(default=0)
    h17 = models.BigIntegerField(default=0)
    h18 = models.BigIntegerField(default=0)
    h19 = models.BigIntegerField(default=0)
    # The durations' DDSketch (``flows.roi.sketch``): {bucket index: count}, merged by adding.
    sketch = models.JSONField(default=dict, blank=True)

    class Meta:
        abstract = True


class RoiFact(Measures):
    """One not-yet-folded fact about a run, appended in the transaction that made it true
    (a run or step ended, an approval was decided, an outcome arrived). Only inserts on the
    hot path: no row is shared between writers, so recording never waits on a lock. The
    run gives the flow, the version and the day the fact is attributed to."""

    run = models.ForeignKey("flows.Run", on_delete=models.CASCADE, related_name="+")
    grain = models.CharField(max_length=10, choices=Grain.choices)
    key = models.CharField(max_length=200, blank=True, default="")
    key2 = models.CharField(max_length=200, blank=True, default="")

    def __str__(self) -> str:
        return f"{self.grain} fact {self.key}/{self.key2} of {self.run_id}"


class RoiRollup(Measures):
    """Sums of folded facts per flow x version x UTC day (of the run's start) x grain x key."""

    flow = models.ForeignKey("flows.Flow", on_delete=models.CASCADE, related_name="+")
    version = models.ForeignKey("flows.FlowVersion", on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    grain = models.CharField(max_length=10, choices=Grain.choices)
    key = models.CharField(max_length=200, blank=True, default="")
    key2 = models.CharField(max_length=200, blank=True, default="")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["flow", "version", "day", "grain", "key", "key2"],
                name="roirollup_unique_cell",
            )
        ]
        indexes = [models.Index(fields=["flow", "day"], name="roirollup_flow_day_idx")]

    def __str__(self) -> str:
        return f"{self.grain} {self.key}/{self.key2} of flow {self.flow_id} on {self.day}"
