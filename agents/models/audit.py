"""The audit log: append-only, hash-chained records of verdicts, transitions, decisions and
configuration changes (``agents.audit`` writes, seals and verifies them)."""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class AuditEvent(models.Model):
    """One audited fact: who (``actor``), what (``kind``/``action``/``subject``), why
    (``reason``), about which flow/run/step, and a small redacted ``data`` dict.

    Rows are inserted *unsealed* (``seq`` null) inside the caller's transaction; the sealer
    later gives them a gapless ``seq`` in sealing order and the chain hashes. A PostgreSQL
    trigger (migration ``0005_audit``) refuses DELETE, an INSERT that comes pre-sealed, and any
    UPDATE except that one sealing. ``actor_id``, ``run_id`` and ``step_id`` are plain values,
    not foreign keys: deleting a user or a run must never have to touch an audit row, and the
    agents app never imports flows (STYLE.md, rule 16).
    """

    class Kind(models.TextChoices):
        VERDICT = "verdict"
        TRANSITION = "transition"
        DECISION = "decision"
        CONFIG = "config"

    seq = models.BigIntegerField(null=True, blank=True, unique=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    action = models.CharField(max_length=80)
    actor_id = models.IntegerField(null=True, blank=True)
    actor = models.CharField(max_length=150, blank=True)
    subject = models.CharField(max_length=300, blank=True)
    flow_slug = models.CharField(max_length=80, blank=True)
    run_id = models.UUIDField(null=True, blank=True)
    step_id = models.BigIntegerField(null=True, blank=True)
    reason = models.TextField(blank=True)
    data = models.JSONField(default=dict, blank=True)
    prev_hash = models.CharField(max_length=64, blank=True)
    hash = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["kind", "-created_at"], name="audit_kind_created"),
            models.Index(fields=["flow_slug", "-created_at"], name="audit_flow_created"),
            models.Index(fields=["run_id", "-created_at"], name="audit_run_created"),
            models.Index(fields=["actor", "-created_at"], name="audit_actor_created"),
            # The sealer's work queue: only unsealed rows are in this index.
            models.Index(
                fields=["id"], name="audit_unsealed", condition=models.Q(seq__isnull=True)
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind}:{self.action} #{self.seq or '-'}"


class AuditVerification(models.Model):
    """The outcome of one walk of the chain (``audit_verify``), shown on the audit page."""

    verified_at = models.DateTimeField(default=timezone.now, db_index=True)
    ok = models.BooleanField()
    checked = models.BigIntegerField(default=0)
    up_to_seq = models.BigIntegerField(default=0)
    broken_seq = models.BigIntegerField(null=True, blank=True)
    message = models.TextField(blank=True)

    class Meta:
        ordering = ["-verified_at", "-id"]

    def __str__(self) -> str:
        return f"{'ok' if self.ok else 'broken'} up to {self.up_to_seq}"
