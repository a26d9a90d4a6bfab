"""ROI facts (appended on the hot path) and their per-day rollups (flows.roi)."""

from decimal import Decimal

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("flows", "0005_kill_switch"),
    ]

    operations: list[migrations.operations.base.Operation] = [
        migrations.CreateModel(
            name="RoiFact",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("n", models.BigIntegerField(default=0)),
                ("ok", models.BigIntegerField(default=0)),
                ("failed", models.BigIntegerField(default=0)),
                ("cancelled", models.BigIntegerField(default=0)),
                ("skipped", models.BigIntegerField(default=0)),
                ("duration_ms", models.BigIntegerField(default=0)),
                ("durations", models.BigIntegerField(default=0)),
                ("wait_ms", models.BigIntegerField(default=0)),
                ("waits", models.BigIntegerField(default=0)),
                ("tokens_in", models.BigIntegerField(default=0)),
                ("tokens_out", models.BigIntegerField(default=0)),
                (
                    "cost",
                    models.DecimalField(decimal_places=6, default=Decimal("0"), max_digits=20),
                ),
                ("review_ms", models.BigIntegerField(default=0)),
                ("reviewed", models.BigIntegerField(default=0)),
                ("approved", models.BigIntegerField(default=0)),
                ("edited", models.BigIntegerField(default=0)),
                ("rejected", models.BigIntegerField(default=0)),
                ("sent_back", models.BigIntegerField(default=0)),
                ("auto_decided", models.BigIntegerField(default=0)),
                ("edit_distance", models.BigIntegerField(default=0)),
                ("escalations", models.BigIntegerField(default=0)),
                (
                    "value",
                    models.DecimalField(decimal_places=6, default=Decimal("0"), max_digits=24),
                ),
                ("h00", models.BigIntegerField(default=0)),
                ("h01", models.BigIntegerField(default=0)),
                ("h02", models.BigIntegerField(default=0)),
                ("h03", models.BigIntegerField(default=0)),
                ("h04", models.BigIntegerField(default=0)),
                ("h05", models.BigIntegerField(default=0)),
                ("h06", models.BigIntegerField(default=0)),
                ("h07", models.BigIntegerField(default=0)),
                ("h08", models.BigIntegerField(default=0)),
                ("h09", models.BigIntegerField(default=0)),
                ("h10", models.BigIntegerField(default=0)),
                ("h11", models.BigIntegerField(default=0)),
                ("h12", models.BigIntegerField(default=0)),
                ("h13", models.BigIntegerField(default=0)),
                ("h14", models.BigIntegerField(default=0)),
                ("h15", models.BigIntegerField(default=0)),
                ("h16", models.BigIntegerField(default=0)),
                ("h17", models.BigIntegerField(default=0)),
                ("h18", models.BigIntegerField(default=0)),
                ("h19", models.BigIntegerField(default=0)),
                (
                    "grain",
                    models.CharField(
                        choices=[
                            ("run", "Run"),
                            ("node", "Node"),
                            ("usage", "Usage"),
                            ("tool", "Tool"),
                            ("approval", "Approval"),
                            ("reason", "Reason"),
                            ("outcome", "Outcome"),
                        ],
                        max_length=10,
                    ),
                ),
                ("key", models.CharField(blank=True, default="", max_length=200)),
                ("key2", models.CharField(blank=True, default="", max_length=200)),
                (
                    "run",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="flows.run",
                    ),
                ),
            ],
            options={
                "abstract": False,
            },
        ),
        migrations.CreateModel(
            name="RoiRollup",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("n", models.BigIntegerField(default=0)),
                ("ok", models.BigIntegerField(default=0)),
                ("failed", models.BigIntegerField(default=0)),
                ("cancelled", models.BigIntegerField(default=0)),
                ("skipped", models.BigIntegerField(default=0)),
                ("duration_ms", models.BigIntegerField(default=0)),
                ("durations", models.BigIntegerField(default=0)),
                ("wait_ms", models.BigIntegerField(default=0)),
                ("waits", models.BigIntegerField(default=0)),
                ("tokens_in", models.BigIntegerField(default=0)),
                ("tokens_out", models.BigIntegerField(default=0)),
                (
                    "cost",
                    models.DecimalField(decimal_places=6, default=Decimal("0"), max_digits=20),
                ),
                ("review_ms", models.BigIntegerField(default=0)),
                ("reviewed", models.BigIntegerField(default=0)),
                ("approved", models.BigIntegerField(default=0)),
                ("edited", models.BigIntegerField(default=0)),
                ("rejected", models.BigIntegerField(default=0)),
                ("sent_back", models.BigIntegerField(default=0)),
                ("auto_decided", models.BigIntegerField(default=0)),
                ("edit_distance", models.BigIntegerField(default=0)),
                ("escalations", models.BigIntegerField(default=0)),
                (
                    "value",
                    models.DecimalField(decimal_places=6, default=Decimal("0"), max_digits=24),
                ),
                ("h00", models.BigIntegerField(default=0)),
                ("h01", models.BigIntegerField(default=0)),
                ("h02", models.BigIntegerField(default=0)),
                ("h03", models.BigIntegerField(default=0)),
                ("h04", models.BigIntegerField(default=0)),
                ("h05", models.BigIntegerField(default=0)),
                ("h06", models.BigIntegerField(default=0)),
                ("h07", models.BigIntegerField(default=0)),
                ("h08", models.BigIntegerField(default=0)),
                ("h09", models.BigIntegerField(default=0)),
                ("h10", models.BigIntegerField(default=0)),
                ("h11", models.BigIntegerField(default=0)),
                ("h12", models.BigIntegerField(default=0)),
                ("h13", models.BigIntegerField(default=0)),
                ("h14", models.BigIntegerField(default=0)),
                ("h15", models.BigIntegerField(default=0)),
                ("h16", models.BigIntegerField(default=0)),
                ("h17", models.BigIntegerField(default=0)),
                ("h18", models.BigIntegerField(default=0)),
                ("h19", models.BigIntegerField(default=0)),
                ("day", models.DateField()),
                (
                    "grain",
                    models.CharField(
                        choices=[
                            ("run", "Run"),
                            ("node", "Node"),
                            ("usage", "Usage"),
                            ("tool", "Tool"),
                            ("approval", "Approval"),
                            ("reason", "Reason"),
                            ("outcome", "Outcome"),
                        ],
                        max_length=10,
                    ),
                ),
                ("key", models.CharField(blank=True, default="", max_length=200)),
                ("key2", models.CharField(blank=True, default="", max_length=200)),
                (
                    "flow",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="flows.flow",
                    ),
                ),
                (
                    "version",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="flows.flowversion",
                    ),
                ),
            ],
            options={
                "indexes": [models.Index(fields=["flow", "day"], name="roirollup_flow_day_idx")],
                "constraints": [
                    models.UniqueConstraint(
                        fields=("flow", "version", "day", "grain", "key", "key2"),
                        name="roirollup_unique_cell",
                    )
                ],
            },
        ),
    ]
