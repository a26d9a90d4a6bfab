"""Rows of approvals: the human task itself (``Approval``), earned autonomy per approval node
(``ApprovalAutonomy``), the reminder and escalation outbox (``ApprovalNotice``) and the review
time the inbox measured (``ApprovalReview``).

They belong to the ``flows`` app (their tables are ``flows_approval``…): ``flows.models``
imports them so that Django registers them, and the engine reads them through ``flows.models``.
Nothing here imports the approvals' domain, which imports the engine.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from flows.states import ApprovalStatus, choices


class Approval(models.Model):
    """A human task: created by an approval node (or, later, a policy verdict).

    Who may decide: ``assignee_user`` when set, else anyone holding ``assignee_role`` (and
    admins always). The decision fields and the feedback fields (``first_opened_at``,
    ``resolution``, ``edit_distance``) are written once, by ``flows.approvals``; the history
    of every change is in ``RunEvent`` rows.
    """

    class Source(models.TextChoices):
        NODE = "node"
        POLICY = "policy"

    class Resolution(models.TextChoices):
        """How the approval ended, finer than its status (for rollups and the history)."""

        APPROVED = "approved"  # approved as shown
        EDITED = "edited"  # edited, then approved
        REJECTED = "rejected"
        SENT_BACK = "sent_back"  # rejected and sent back to the drafting step with notes
        AUTO_APPROVED = "auto_approved"  # the deadline passed and the node allows it
        AUTO_REJECTED = "auto_rejected"  # the deadline passed
        AUTO_PASSED = "auto_passed"  # earned autonomy: not sampled for review
        CANCELLED = "cancelled"

    class OnDeadline(models.TextChoices):
        REJECT = "reject"
        APPROVE = "approve"
        ESCALATE = "escalate"

    run = models.ForeignKey("flows.Run", on_delete=models.CASCADE, related_name="approvals")
    step = models.ForeignKey("flows.Step", on_delete=models.CASCADE, related_name="approvals")
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.NODE)
    status = models.CharField(
        max_length=20, choices=choices(ApprovalStatus), default=ApprovalStatus.PENDING
    )
    title = models.CharField(max_length=300)
    instructions = models.TextField(blank=True)
    draft = models.JSONField(null=True)
    reason = models.TextField(blank=True, help_text="Why this was gated")
    # The agent whose draft this is (slug), for filters, rollups and earned autonomy.
    agent = models.CharField(max_length=100, blank=True, db_index=True)
    # Send-back rounds: 0 for the first draft, n after n send-backs.
    round = models.PositiveIntegerField(default=0)
    assignee_role = models.CharField(max_length=20, default="approver")
    assignee_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    shown_hash = models.CharField(max_length=64)
    deadline_at = models.DateTimeField(null=True, blank=True)
    on_deadline = models.CharField(max_length=10, choices=OnDeadline.choices, blank=True)
    escalate_to = models.CharField(max_length=20, blank=True)
    escalated_at = models.DateTimeField(null=True, blank=True)
    remind_at = models.DateTimeField(null=True, blank=True)
    reminded_at = models.DateTimeField(null=True, blank=True)
    # Feedback: when an eligible approver first saw the detail, and how the draft was changed.
    first_opened_at = models.DateTimeField(null=True, blank=True)
    first_opened_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    resolution = models.CharField(max_length=20, choices=Resolution.choices, blank=True)
    edit_distance = models.PositiveIntegerField(null=True, blank=True)
    # Review time of the decision (``flows.approvals.review``): ms and where it came from —
    # "inbox" (measured on screen), "api" (reported by the API client), "" (not measured).
    review_ms = models.BigIntegerField(null=True, blank=True)
    review_source = models.CharField(max_length=10, blank=True)
    # Reviewed because earned-autonomy sampling picked it (the rule was on).
    sampled = models.BooleanField(default=False)
    decision_output = models.JSONField(null=True, blank=True)
    decision_reason = models.TextField(blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["deadline_at", "created_at"]
        indexes = [
            models.Index(fields=["status", "created_at"]),
            models.Index(
                fields=["deadline_at"],
                name="approval_pending_deadline_idx",
                condition=models.Q(status="pending"),
            ),
            models.Index(
                fields=["remind_at"],
                name="approval_pending_remind_idx",
                condition=models.Q(status="pending", reminded_at__isnull=True),
            ),
        ]

    def __str__(self) -> str:
        return f"approval {self.pk} ({self.status})"

    @property
    def node_id(self) -> str:
        return self.step.node_id


class ApprovalAutonomy(models.Model):
    """Earned autonomy for one approval node of one flow: when ``enabled``, only 1 in
    ``sample_one_in`` items is put before a person; the others pass on their own, recorded as
    ``auto_passed``. Turned on by a designer, never by the system; turned off by a designer or
    when later decisions no longer meet the rule (``disabled_reason`` says which)."""

    flow = models.ForeignKey("flows.Flow", on_delete=models.CASCADE, related_name="+")
    node_id = models.CharField(max_length=64)
    agent = models.CharField(max_length=100, blank=True)
    sample_one_in = models.PositiveIntegerField()
    enabled = models.BooleanField(default=False)
    # The evidence the rule was turned on with: window, threshold, counts.
    evidence = models.JSONField(default=dict, blank=True)
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    changed_at = models.DateTimeField(auto_now=True)
    disabled_reason = models.CharField(max_length=300, blank=True)
    # Items seen while enabled; every ``sample_one_in``-th is reviewed.
    seen = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["flow", "node_id"], name="approvalautonomy_unique_node")
        ]

    def __str__(self) -> str:
        state = f"1 in {self.sample_one_in}" if self.enabled else "off"
        return f"autonomy {self.flow_id}:{self.node_id} ({state})"


class ApprovalNotice(models.Model):
    """An outbox row: a reminder or an escalation to send by e-mail and the chat webhook.

    Written in the transaction that decided to notify, sent after commit by a task, and sent
    again by the reconciler if that task was lost; ``sent_at`` makes sending idempotent.
    """

    class Kind(models.TextChoices):
        REMINDER = "reminder"
        ESCALATION = "escalation"

    approval = models.ForeignKey(Approval, on_delete=models.CASCADE, related_name="notices")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    # What went where: {"email": [addresses], "webhook": true|false}.
    delivered = models.JSONField(default=dict, blank=True)

    class Meta:
        indexes = [
            models.Index(
                fields=["created_at"],
                name="approvalnotice_unsent_idx",
                condition=models.Q(sent_at__isnull=True),
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} notice for approval {self.approval_id}"


class ApprovalReview(models.Model):
    """How long one person actively reviewed one approval in the inbox, summed over every
    opening: ``active_ms`` is credited by heartbeats of the page (visible, focused, not idle),
    each capped by the wall time since ``last_seen_at`` (see ``flows.approvals.review``).
    ``heartbeats`` counts credited reports: a row that never got one measured nothing."""

    approval = models.ForeignKey(Approval, on_delete=models.CASCADE, related_name="reviews")
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
