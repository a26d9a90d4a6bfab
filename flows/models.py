"""Flows, their immutable versions, runs, steps, their history, and approvals."""

from __future__ import annotations

import uuid
from decimal import Decimal

from django.conf import settings
from django.db import models

from flows.states import ApprovalStatus, RunStatus, StepStatus, choices


class Flow(models.Model):
    slug = models.SlugField(max_length=80, unique=True)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    live_version = models.ForeignKey(
        "FlowVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # A flow of the demo workspace (``flows.demo``): it and everything it ran is demo data,
    # labelled so wherever it shows, and removed by ``manage.py demo_remove``.
    demo = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.slug


class FlowVersion(models.Model):
    """An immutable flow document. Runs pin the version they started on."""

    flow = models.ForeignKey(Flow, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    document = models.JSONField()
    # Agents the document used, frozen at save time so later agent edits do not change it.
    frozen_agents = models.JSONField(default=dict)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    published_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["flow", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["flow", "number"], name="flowversion_unique_number")
        ]

    def __str__(self) -> str:
        return f"{self.flow.slug} v{self.number}"


class Run(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # Indexed by (flow, -created_at) below, which serves lookups by flow alone too.
    flow = models.ForeignKey(Flow, on_delete=models.CASCADE, related_name="runs", db_index=False)
    version = models.ForeignKey(FlowVersion, on_delete=models.PROTECT, related_name="runs")
    status = models.CharField(max_length=20, choices=choices(RunStatus), default=RunStatus.QUEUED)
    input = models.JSONField(default=dict)
    subject = models.CharField(max_length=300, blank=True)  # indexed in Meta (no LIKE index)
    output = models.JSONField(null=True, blank=True)
    error = models.TextField(blank=True)
    # Why a failed run failed: its failing step's class (domain, transient, crash...), or
    # "rejected" when an approval was rejected and no edge continued it (flows.states).
    error_class = models.CharField(max_length=20, blank=True)
    # Retries: a new run linked to the failed one; the root names idempotency keys.
    retry_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="retries"
    )
    root_run_id = models.UUIDField(db_index=True)
    parent_step = models.ForeignKey(
        "Step", null=True, blank=True, on_delete=models.CASCADE, related_name="child_runs"
    )
    idempotency_key = models.CharField(max_length=200, null=True, blank=True)  # noqa: DJ001 (NULL = none; unique when set)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    tokens_in = models.PositiveIntegerField(default=0)
    tokens_out = models.PositiveIntegerField(default=0)
    cost = models.DecimalField(max_digits=14, decimal_places=6, default=Decimal("0"))

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["flow", "-created_at"]),
            models.Index(fields=["subject"], name="run_subject_idx"),
            models.Index(fields=["status"]),
            models.Index(fields=["finished_at"], name="run_finished_at_idx"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["flow", "idempotency_key"],
                condition=models.Q(idempotency_key__isnull=False),
                name="run_unique_idempotency_key",
            )
        ]

    def __str__(self) -> str:
        return f"run {self.id}"

    @property
    def is_terminal(self) -> bool:
        from flows.states import RUN_TERMINAL

        return self.status in RUN_TERMINAL


class Step(models.Model):
    """One node's execution in one scope of a run (a loop iteration or a map item has its own).

    ``scope`` is "" at top level, or a path such as ``review#2`` (third iteration of loop node
    ``review``) or ``split#4/review#0``; (run, node_id, scope) is unique, which is what stops two
    racing predecessors from starting the same node twice.
    """

    # No index of its own: ``step_unique_activation`` (run, node, scope) leads with it.
    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="steps", db_index=False)
    node_id = models.CharField(max_length=64)
    node_type = models.CharField(max_length=20)
    scope = models.CharField(max_length=500, blank=True, default="")
    status = models.CharField(max_length=20, choices=choices(StepStatus), default=StepStatus.QUEUED)
    attempt = models.PositiveIntegerField(default=0)
    max_attempts = models.PositiveIntegerField(default=3)
    input = models.JSONField(default=dict)
    output = models.JSONField(null=True, blank=True)
    taken = models.JSONField(null=True, blank=True)
    error = models.TextField(blank=True)
    error_class = models.CharField(max_length=20, blank=True)
    idempotency_key = models.CharField(max_length=300)
    reused_from = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    model = models.CharField(max_length=120, blank=True)
    tokens_in = models.PositiveIntegerField(default=0)
    tokens_out = models.PositiveIntegerField(default=0)
    cost = models.DecimalField(max_digits=14, decimal_places=6, default=Decimal("0"))
    created_at = models.DateTimeField(auto_now_add=True)
    due_at = models.DateTimeField(null=True, blank=True)
    enqueued_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["run", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["run", "node_id", "scope"], name="step_unique_activation"
            )
        ]
        indexes = [
            models.Index(
                fields=["status", "enqueued_at"],
                name="step_queued_idx",
                condition=models.Q(status__in=["queued", "running", "waiting"]),
            )
        ]

    def __str__(self) -> str:
        return f"{self.node_id}[{self.scope}] of {self.run_id}"

    @property
    def duration_ms(self) -> int | None:
        if self.started_at and self.finished_at:
            return int((self.finished_at - self.started_at).total_seconds() * 1000)
        return None


class EdgeSignal(models.Model):
    """That one edge into ``to_node`` was taken or skipped, for one scope of a run.

    Fan-in (joins, merges after a router) is decided by counting these under the run lock.
    """

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="signals")
    edge_index = models.PositiveIntegerField()
    to_node = models.CharField(max_length=64)
    scope = models.CharField(max_length=500, blank=True, default="")
    taken = models.BooleanField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["run", "edge_index", "scope"], name="edgesignal_unique")
        ]
        indexes = [models.Index(fields=["run", "to_node", "scope"])]

    def __str__(self) -> str:
        state = "taken" if self.taken else "skipped"
        return f"edge {self.edge_index} -> {self.to_node}[{self.scope}] {state}"


class RunEvent(models.Model):
    """Append-only history: every transition of a run or a step, in order."""

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="events")
    step = models.ForeignKey(
        Step, null=True, blank=True, on_delete=models.CASCADE, related_name="events"
    )
    kind = models.CharField(max_length=40)
    from_status = models.CharField(max_length=20, blank=True)
    to_status = models.CharField(max_length=20, blank=True)
    data = models.JSONField(default=dict, blank=True)
    # Not indexed: history is read by run (or step), never across runs by time.
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.kind} {self.from_status}->{self.to_status}"


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

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="approvals")
    step = models.ForeignKey(Step, on_delete=models.CASCADE, related_name="approvals")
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

    flow = models.ForeignKey(Flow, on_delete=models.CASCADE, related_name="+")
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


# Trigger and outcome rows live in their own module; importing them here registers them.
from flows.guardrails.models import BudgetReservation, PolicyVerdict  # noqa: E402
from flows.killswitch_models import HeldActivation, KillSwitch  # noqa: E402
from flows.review_models import ApprovalReview  # noqa: E402
from flows.roi.models import RoiFact, RoiRollup  # noqa: E402
from flows.triggers.models import (  # noqa: E402
    Outcome,
    Trigger,
    WebhookReceipt,
    WebhookSecret,
)

__all__ = [
    "Approval",
    "ApprovalAutonomy",
    "ApprovalNotice",
    "ApprovalReview",
    "BudgetReservation",
    "EdgeSignal",
    "Flow",
    "FlowVersion",
    "HeldActivation",
    "KillSwitch",
    "Outcome",
    "PolicyVerdict",
    "RoiFact",
    "RoiRollup",
    "Run",
    "RunEvent",
    "Step",
    "Trigger",
    "WebhookReceipt",
    "WebhookSecret",
]
