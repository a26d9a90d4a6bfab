from decimal import Decimal

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("flows", "0003_triggers_outcomes"),
        ("agents", "0005_audit"),
    ]

    operations = [
        migrations.CreateModel(
            name="BudgetReservation",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("flow_slug", models.CharField(max_length=80)),
                ("step_id", models.BigIntegerField()),
                ("tokens", models.PositiveIntegerField()),
                (
                    "cost",
                    models.DecimalField(decimal_places=6, default=Decimal("0"), max_digits=14),
                ),
                ("settled", models.BooleanField(default=False)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
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
                "indexes": [
                    models.Index(fields=["run"], name="budgetres_run_idx"),
                    models.Index(fields=["flow_slug", "created_at"], name="budgetres_flow_idx"),
                ],
            },
        ),
        migrations.CreateModel(
            name="PolicyVerdict",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("point", models.CharField(max_length=20)),
                ("policy", models.CharField(max_length=120)),
                ("kind", models.CharField(max_length=20)),
                ("verdict", models.CharField(max_length=20)),
                ("reason", models.TextField(blank=True)),
                ("facts", models.JSONField(blank=True, default=dict)),
                ("call_key", models.CharField(blank=True, db_index=True, max_length=300)),
                ("created_at", models.DateTimeField(auto_now_add=True, db_index=True)),
                (
                    "approval",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="verdicts",
                        to="flows.approval",
                    ),
                ),
                (
                    "run",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="verdicts",
                        to="flows.run",
                    ),
                ),
                (
                    "step",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="verdicts",
                        to="flows.step",
                    ),
                ),
            ],
            options={
                "ordering": ["id"],
                "indexes": [
                    models.Index(fields=["step", "call_key"], name="flows_polic_step_id_ff7505_idx")
                ],
            },
        ),
    ]
