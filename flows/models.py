"""Flows, their immutable versions, runs, steps and their history; and, imported at the end so
that Django registers them in this app, the rows of the concerns that have their own package
(approvals, guardrails, the kill switch, ROI, triggers and outcomes)."""

from __future__ import annotations

import uuid
from decimal import Decimal

from django.conf import settings
from django.db import models

from flows.states import RunStatus, StepStatus, choices


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


# The rows of approvals, guardrails, the kill switch, ROI, triggers and outcomes live in their
# packages' models modules; importing them here registers them in the flows app.
from flows.approvals.models import (  # noqa: E402
    Approval,
    ApprovalAutonomy,
    ApprovalNotice,
    ApprovalReview,
)
from flows.guardrails.models import BudgetReservation, PolicyVerdict  # noqa: E402
from flows.killswitch.models import HeldActivation, KillSwitch  # noqa: E402
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
