"""Rows for triggers and outcomes (imported by ``flows.models`` so they belong to the app)."""

from __future__ import annotations

from decimal import Decimal

from django.db import models


class Outcome(models.Model):
    """A business result reported after the fact about a subject (a meeting booked, an invoice
    paid), attached to the run that worked on that subject. Append-only."""

    class Source(models.TextChoices):
        API = "api"
        WEBHOOK = "webhook"

    subject = models.CharField(max_length=300, db_index=True)
    metric = models.CharField(max_length=100, db_index=True)
    value = models.DecimalField(max_digits=20, decimal_places=6, default=Decimal("1"))
    run = models.ForeignKey(
        "flows.Run", null=True, blank=True, on_delete=models.SET_NULL, related_name="outcomes"
    )
    flow = models.ForeignKey(
        "flows.Flow", null=True, blank=True, on_delete=models.SET_NULL, related_name="outcomes"
    )
    occurred_at = models.DateTimeField()
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.API)
    # The sender's event id (webhook) or Idempotency-Key (API): a repeat records nothing.
    event_key = models.CharField(max_length=200, null=True, blank=True, unique=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["flow", "metric", "occurred_at"])]

    def __str__(self) -> str:
        return f"{self.metric}={self.value} for {self.subject}"


class WebhookSecret(models.Model):
    """One signing secret of a webhook endpoint: a flow's, or (``flow`` NULL) the outcomes
    endpoint's. The value lives encrypted in ``agents.secrets`` under ``name``. A rotated-out
    secret is still accepted until ``expires_at`` (the overlap window)."""

    flow = models.ForeignKey(
        "flows.Flow", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    number = models.PositiveIntegerField()
    name = models.CharField(max_length=100, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-number"]

    def __str__(self) -> str:
        return self.name


class WebhookReceipt(models.Model):
    """A signed webhook request remembered by what its signature covers: the SHA-256 of
    ``"<t>.<raw body>"`` on one endpoint (``flow:<id>`` or ``outcomes``), with the key the
    request was deduplicated under. The event id header is not signed, so a replay of a
    captured request with a fresh id is recognised here and answered under the first key.
    Kept while the signature could still be accepted (``flows.triggers.webhooks``), then
    pruned."""

    endpoint = models.CharField(max_length=40)
    signed = models.CharField(max_length=64)
    event_key = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["endpoint", "signed"], name="webhook_receipt_once")
        ]

    def __str__(self) -> str:
        return f"{self.endpoint} {self.signed[:12]}"


class Trigger(models.Model):
    """A flow's trigger as configured by its live version's ``trigger`` block (synced on
    publish). Schedules keep their next due time here; the beat-driven task fires it."""

    flow = models.OneToOneField("flows.Flow", on_delete=models.CASCADE, related_name="trigger")
    kind = models.CharField(max_length=20)
    config = models.JSONField(default=dict)
    enabled = models.BooleanField(default=True)
    next_due_at = models.DateTimeField(null=True, blank=True)
    last_fired_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [
            models.Index(
                fields=["next_due_at"],
                name="trigger_due_idx",
                condition=models.Q(enabled=True, next_due_at__isnull=False),
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} trigger of flow {self.flow_id}"
