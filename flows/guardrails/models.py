"""Rows the guardrails keep: every verdict given on a step, and the budget reservations that
make budgets exact under concurrency."""

from __future__ import annotations

from decimal import Decimal

from django.db import models


class PolicyVerdict(models.Model):
    """One policy's decision at one enforcement point of one step (allow ones included), with
    a summary of the facts it was given. ``call_key`` names the tool call a verdict was about;
    ``approval`` is the inbox item a ``require_approval`` verdict opened."""

    run = models.ForeignKey("flows.Run", on_delete=models.CASCADE, related_name="verdicts")
    step = models.ForeignKey(
        "flows.Step", null=True, blank=True, on_delete=models.CASCADE, related_name="verdicts"
    )
    point = models.CharField(max_length=20)
    policy = models.CharField(max_length=120)
    kind = models.CharField(max_length=20)
    verdict = models.CharField(max_length=20)
    reason = models.TextField(blank=True)
    facts = models.JSONField(default=dict, blank=True)
    call_key = models.CharField(max_length=300, blank=True, db_index=True)
    approval = models.ForeignKey(
        "flows.Approval", null=True, blank=True, on_delete=models.SET_NULL, related_name="verdicts"
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["step", "call_key"])]

    def __str__(self) -> str:
        return f"{self.policy}: {self.verdict} at {self.point}"

    #: The status colour a verdict is shown in (the run page's status classes).
    TONES = {"block": "failed", "require_approval": "waiting", "redact": "skipped"}

    @property
    def label(self) -> str:
        return self.verdict.replace("_", " ")

    @property
    def tone(self) -> str:
        return self.TONES.get(self.verdict, "succeeded")


class BudgetReservation(models.Model):
    """A model call's share of a budget: the estimate, reserved under the budget's lock before
    the call, then reconciled to what the call used (``tokens``/``cost`` set, ``settled``)."""

    run = models.ForeignKey("flows.Run", on_delete=models.CASCADE, related_name="+")
    flow_slug = models.CharField(max_length=80)
    step_id = models.BigIntegerField()
    tokens = models.PositiveIntegerField()
    cost = models.DecimalField(max_digits=14, decimal_places=6, default=Decimal("0"))
    settled = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [
            models.Index(fields=["run"], name="budgetres_run_idx"),
            models.Index(fields=["flow_slug", "created_at"], name="budgetres_flow_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.tokens} tokens / {self.cost} for step {self.step_id}"
