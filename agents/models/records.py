"""A small record store of our own (contacts, accounts, tickets) that tools read and write."""

from __future__ import annotations

from django.db import models


class Record(models.Model):
    kind = models.SlugField(max_length=40)
    key = models.CharField(max_length=300)
    data = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["kind", "key"]
        constraints = [models.UniqueConstraint(fields=["kind", "key"], name="record_unique_key")]

    def __str__(self) -> str:
        return f"{self.kind}:{self.key}"
