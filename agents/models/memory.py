"""Long-term memory per subject (a contact, a ticket, an account), shared across flows."""

from __future__ import annotations

from django.db import models


class MemoryEntry(models.Model):
    """One thing remembered about ``key`` (e.g. ``contact:ada@example.com``)."""

    key = models.CharField(max_length=300, db_index=True)
    agent = models.CharField(max_length=80, blank=True)
    kind = models.CharField(max_length=40, default="note")
    content = models.JSONField()
    run_id = models.UUIDField(null=True, blank=True)
    step_id = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    expires_at = models.DateTimeField(null=True, blank=True, db_index=True)

    class Meta:
        ordering = ["key", "-created_at"]
        indexes = [models.Index(fields=["key", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.key}: {self.kind}"
