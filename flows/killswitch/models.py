"""Rows of the kill switch (``flows.killswitch.pause`` acts on them): the switches, and the work
a paused run was about to do."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

GLOBAL_KEY = "global"


class KillSwitch(models.Model):
    """A pause of one flow (``flow`` set, ``key`` = ``flow:<id>``) or of everything (``flow``
    null, ``key`` = ``global``). One row per scope, flipped by ``active``; history is in the
    audit log."""

    key = models.CharField(max_length=40, unique=True)
    flow = models.OneToOneField(
        "flows.Flow", null=True, blank=True, on_delete=models.CASCADE, related_name="kill_switch"
    )
    active = models.BooleanField(default=False)
    reason = models.CharField(max_length=500, blank=True)
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    changed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [
            models.Index(fields=["flow"], condition=models.Q(active=True), name="kill_switch_on")
        ]

    def __str__(self) -> str:
        return f"{self.key} {'paused' if self.active else 'running'}"


class HeldActivation(models.Model):
    """A node a paused run would have started next (a finished step's successors, a run's
    entry nodes): kept here instead of started, and started on resume in the order held."""

    run = models.ForeignKey("flows.Run", on_delete=models.CASCADE, related_name="held")
    node_id = models.CharField(max_length=64)
    scope = models.CharField(max_length=500, blank=True, default="")
    previous_node = models.CharField(max_length=64, null=True, blank=True)  # noqa: DJ001 (None = entry)
    extra_input = models.JSONField(null=True, blank=True)
    held_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.node_id}@{self.scope or '-'} held for run {self.run_id}"
