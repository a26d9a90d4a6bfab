"""Agents, the effect ledger and the outbox."""

from __future__ import annotations

from decimal import Decimal

from django.db import models

from controlroom.mail import transport_delivers, transport_describe


class Agent(models.Model):
    """A named specialist. Flow documents may also define agents inline (``agents[]``)."""

    class Provider(models.TextChoices):
        SCRIPTED = "scripted", "scripted (offline)"
        OPENAI = "openai", "OpenAI-compatible"
        ANTHROPIC = "anthropic", "Anthropic"

    class OutputMode(models.TextChoices):
        TEXT = "text"
        JSON = "json"

    class JsonMode(models.TextChoices):
        AUTO = "auto", "the provider's best"
        SCHEMA = "schema", "structured output with the JSON Schema"
        OBJECT = "object", "JSON mode, no schema"
        PROMPT = "prompt", "an instruction only"

    slug = models.SlugField(max_length=80, unique=True)
    name = models.CharField(max_length=120)
    role = models.CharField(max_length=200, blank=True)
    instructions = models.TextField(blank=True)
    provider = models.CharField(max_length=20, choices=Provider.choices, default=Provider.SCRIPTED)
    model = models.CharField(max_length=120, default="scripted-1")
    temperature = models.FloatField(default=0.2)
    max_tokens = models.PositiveIntegerField(default=1024)
    output_mode = models.CharField(
        max_length=10, choices=OutputMode.choices, default=OutputMode.TEXT
    )
    output_schema = models.JSONField(null=True, blank=True)
    json_mode = models.CharField(max_length=10, choices=JsonMode.choices, default=JsonMode.AUTO)
    tools = models.JSONField(default=list, blank=True)
    price_in_per_1k = models.DecimalField(max_digits=12, decimal_places=6, default=Decimal("0"))
    price_out_per_1k = models.DecimalField(max_digits=12, decimal_places=6, default=Decimal("0"))
    memory_scope = models.CharField(
        max_length=200,
        blank=True,
        help_text="Template naming the memory key, e.g. contact:{{ subject }}",
    )
    connection = models.ForeignKey(
        "agents.ProviderConnection",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="agents",
    )
    max_turns = models.PositiveIntegerField(default=6)
    # Model routing: cheaper models first, escalating when an answer fails its checks.
    cascade = models.JSONField(default=list, blank=True)
    # Escalation rules (sandboxed expressions over ``output`` and the run's variables).
    confidence = models.CharField(
        max_length=500, blank=True, help_text="Expression giving the answer's confidence"
    )
    min_confidence = models.FloatField(null=True, blank=True)
    check_condition = models.CharField(
        max_length=2000, blank=True, help_text="Condition the answer must meet, else escalate"
    )
    script = models.JSONField(default=dict, blank=True)
    archived = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.slug


class Effect(models.Model):
    """One side effect, keyed by its idempotency key: the ledger that makes retries safe.

    Keys are ``<root run>:<node>:<scope>`` so a retried attempt, a redelivered message and a
    retry run all find the same row and reuse its result instead of acting again.
    """

    key = models.CharField(max_length=300, unique=True)
    tool = models.CharField(max_length=120)
    category = models.CharField(max_length=40)
    subject = models.CharField(max_length=300, blank=True, db_index=True)
    args = models.JSONField(default=dict)
    result = models.JSONField(null=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        # A run's effects are found by their key's prefix (``<root run>:``).
        indexes = [
            models.Index(
                fields=["key"], name="effect_key_prefix", opclasses=["varchar_pattern_ops"]
            )
        ]

    def __str__(self) -> str:
        return f"{self.tool} {self.key}"


class OutboxMessage(models.Model):
    """Every outbound message an agent or tool sends, kept and listed in the UI."""

    class Status(models.TextChoices):
        PENDING = "pending"
        SENT = "sent"
        FAILED = "failed"

    effect = models.OneToOneField(Effect, on_delete=models.PROTECT, related_name="message")
    channel = models.CharField(max_length=20, default="email")
    to = models.CharField(max_length=300)
    subject = models.CharField(max_length=300, blank=True)
    body = models.TextField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    # While pending: when the reconciler (agents.outbox.outbox_redrive) publishes it again if
    # it has still not been delivered. Redis is the fast path, this row the durable copy.
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    # Which e-mail backend took it (controlroom/mail.py): ``smtp://host:port`` or ``console``…;
    # empty until a delivery attempt reached a backend.
    transport = models.CharField(max_length=300, blank=True)
    # The run and step that sent it, by value (agents never imports flows); null when unknown.
    run_id = models.UUIDField(null=True, blank=True, db_index=True)
    step_id = models.BigIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                name="outbox_pending_due",
                condition=models.Q(status="pending"),
            )
        ]

    def __str__(self) -> str:
        return f"{self.channel} to {self.to}"

    @property
    def delivered(self) -> bool:
        """Sent, and to a backend that delivers (not printed to the console)."""
        return self.status == self.Status.SENT and transport_delivers(self.transport)

    @property
    def transport_label(self) -> str:
        """What the backend did with it, in words (``transport_describe``)."""
        return transport_describe(self.transport)
