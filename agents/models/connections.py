"""Secrets (encrypted at rest) and the model-provider connections that use them."""

from __future__ import annotations

from django.db import models


class Secret(models.Model):
    """A credential, Fernet-encrypted with the installation's key. Write-only: nothing reads
    ``ciphertext`` back out except ``agents.secrets`` at the moment of use.

    Bound to its use: it is sent only to a host matching ``allowed_hosts`` (normalised
    ``host``, ``*.suffix``, either with ``:port``) or through a provider connection it has a
    ``SecretBinding`` for. Only admins change either (``agents.secrets.secret_bind``)."""

    name = models.SlugField(max_length=100, unique=True)
    description = models.CharField(max_length=200, blank=True)
    ciphertext = models.BinaryField()
    allowed_hosts = models.JSONField(default=list, blank=True)
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


class SecretBinding(models.Model):
    """Secret ``secret`` may be sent through provider connection ``connection`` while the
    connection still has the ``kind`` and ``base_url`` it had when an admin bound them: a
    connection re-pointed since (by anyone) no longer gets the key until an admin binds again."""

    secret = models.ForeignKey(Secret, on_delete=models.CASCADE, related_name="bindings")
    connection = models.ForeignKey(
        ProviderConnection, on_delete=models.CASCADE, related_name="secret_bindings"
    )
    kind = models.CharField(max_length=20)
    base_url = models.URLField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["secret", "connection"], name="secret_binding_once")
        ]

    def __str__(self) -> str:
        return f"{self.secret_id} -> {self.connection_id}"

    @property
    def current(self) -> bool:
        """Whether the bound connection is still as it was when bound."""
        return self.matches(self.connection)

    def matches(self, connection: ProviderConnection) -> bool:
        """Whether ``connection`` still goes where it went when this binding was made."""
        return (self.kind, self.base_url) == (connection.kind, connection.base_url)
