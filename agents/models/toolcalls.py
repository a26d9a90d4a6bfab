"""Every tool call an agent or a tool node made, for the run timeline and for audits."""

from __future__ import annotations

import uuid
from decimal import Decimal

from django.db import models


class ToolCall(models.Model):
    """One call: name, arguments, result or error, duration, idempotency key.

    ``run_id``/``step_id`` point at the flows app's rows by value: the agents app never imports
    flows (STYLE.md, rule 16).
    """

    run_id = models.UUIDField(db_index=True, default=uuid.uuid4)
    step_id = models.BigIntegerField(db_index=True)
    attempt = models.PositiveIntegerField(default=1)
    turn = models.PositiveIntegerField(default=0)
    tool = models.CharField(max_length=200)
    category = models.CharField(max_length=40, blank=True)
    arguments = models.JSONField(default=dict)
    result = models.JSONField(null=True, blank=True)
    error = models.TextField(blank=True)
    verdict = models.CharField(max_length=20, blank=True)
    idempotency_key = models.CharField(max_length=300, blank=True)
    replayed = models.BooleanField(default=False)
    duration_ms = models.PositiveIntegerField(default=0)
    cost = models.DecimalField(max_digits=14, decimal_places=6, default=Decimal("0"))
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["step_id", "id"]

    def __str__(self) -> str:
        return f"{self.tool} (step {self.step_id})"
