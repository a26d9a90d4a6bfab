"""Review time, as the inbox measured it: one row per (approval, person) who had it on screen.

Lives beside ``flows/models.py`` (as ``killswitch_models`` does) rather than in
``flows/approvals/``: importing that package from ``flows.models`` would import the engine."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class ApprovalReview(models.Model):
    """How long one person actively reviewed one approval in the inbox, summed over every
    opening: ``active_ms`` is credited by heartbeats of the page (visible, focused, not idle),
    each capped by the wall time since ``last_seen_at`` (see ``flows.approvals.review``).
    ``heartbeats`` counts credited reports: a row that never got one measured nothing."""

    approval = models.ForeignKey("flows.Approval", on_delete=models.CASCADE, related_name="reviews")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    active_ms = models.BigIntegerField(default=0)
    heartbeats = models.PositiveIntegerField(default=0)
    first_seen_at = models.DateTimeField()
    # The start of the window the next heartbeat may credit: the last opening or heartbeat.
    last_seen_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["approval", "user"], name="approval_review_per_user")
        ]

    def __str__(self) -> str:
        return f"review of approval {self.approval_id} by {self.user_id}: {self.active_ms} ms"
