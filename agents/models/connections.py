"""Secrets (encrypted at rest) and the model-provider connections that use them."""

from __future__ import annotations

from django.db import models


class Secret(models.Model):
    """A credential, Fernet-encrypted with the installation's key. Write-only: nothing reads
    ``ciphertext`` back out except ``agents.secrets.secret_reveal`` at the moment of use."""

    name = models.SlugField(max_length=100, unique=True)
    description = models.CharField(max_length=200, blank=True)
    ciphertext = models.BinaryField()
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    rotated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def __repr__(self) -> str:
        # Names only: a Secret printed in a log, a traceback or a shell shows no ciphertext.
        return f"<Secret {self.name}>"


class ProviderConnection(models.Model):
    """How to reach a model provider: its kind, an optional base URL, and the key to use."""

    class Kind(models.TextChoices):
        OPENAI = "openai", "OpenAI-compatible"
        ANTHROPIC = "anthropic", "Anthropic"

    slug = models.SlugField(max_length=80, unique=True)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    base_url = models.URLField(max_length=500, blank=True)
    api_key = models.ForeignKey(
        Secret, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    timeout_seconds = models.FloatField(default=60.0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.slug
