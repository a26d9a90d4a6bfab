"""Guardrail policies: what the orchestrator checks before and after steps, model calls and
tool calls. Evaluated by ``agents.policies.evaluate`` (pure); enforced by ``flows``."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class Policy(models.Model):
    """One guardrail. ``config`` is validated per ``kind`` by ``agents.policies.config_errors``.

    ``scope`` and ``target`` say where it applies: everywhere (``global``, target ""), one flow
    (its slug), one agent (its slug) or one tool (its name). ``verdict`` is what happens when
    the policy's condition holds; ``reason`` is what people read in the inbox and the audit log.
    """

    class Kind(models.TextChoices):
        APPROVAL = "approval"
        RATE_LIMIT = "rate_limit", "rate limit"
        QUIET_HOURS = "quiet_hours", "quiet hours"
        BUDGET = "budget"
        LIMITS = "limits"
        TOOL_SCOPE = "tool_scope", "tool scope"
        PII = "pii", "PII redaction"
        CONTENT = "content"

    class Scope(models.TextChoices):
        GLOBAL = "global"
        FLOW = "flow"
        AGENT = "agent"
        TOOL = "tool"

    class Verdict(models.TextChoices):
        ALLOW = "allow"
        REQUIRE_APPROVAL = "require_approval", "require approval"
        BLOCK = "block"
        REDACT = "redact"

    slug = models.SlugField(max_length=80, unique=True)
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    scope = models.CharField(max_length=10, choices=Scope.choices, default=Scope.GLOBAL)
    target = models.CharField(max_length=200, blank=True)
    verdict = models.CharField(max_length=20, choices=Verdict.choices, default=Verdict.BLOCK)
    reason = models.CharField(max_length=500, blank=True)
    config = models.JSONField(default=dict, blank=True)
    enabled = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["slug"]
        verbose_name_plural = "policies"
        indexes = [models.Index(fields=["enabled", "scope", "target"])]

    def __str__(self) -> str:
        return self.slug
