"""Registered MCP servers and the tools they list."""

from __future__ import annotations

from django.db import models


class McpServer(models.Model):
    class Transport(models.TextChoices):
        STDIO = "stdio"
        HTTP = "http", "streamable HTTP"

    slug = models.SlugField(max_length=80, unique=True)
    name = models.CharField(max_length=200)
    transport = models.CharField(max_length=10, choices=Transport.choices)
    command = models.CharField(max_length=500, blank=True)
    args = models.JSONField(default=list, blank=True)
    url = models.URLField(max_length=500, blank=True)
    # Policies key on a tool's category; an admin sets it, a server's description never does.
    category = models.CharField(max_length=40, default="read")
    headers_secret = models.ForeignKey(
        "agents.Secret", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    enabled = models.BooleanField(default=True)
    last_listed_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.slug


class McpTool(models.Model):
    server = models.ForeignKey(McpServer, on_delete=models.CASCADE, related_name="tools")
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    input_schema = models.JSONField(default=dict)
    listed_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["server", "name"]
        constraints = [models.UniqueConstraint(fields=["server", "name"], name="mcptool_unique")]

    def __str__(self) -> str:
        return f"mcp:{self.server.slug}/{self.name}"
