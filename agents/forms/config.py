"""Forms for what agents use: secrets (write-only values), provider connections, MCP
servers."""

from __future__ import annotations

from typing import Any, cast

from django import forms

from agents import mcp_servers
from agents.forms.common import secret_choices
from agents.models import McpServer, ProviderConnection, Secret

CATEGORY_LABELS = {
    "read": "read — looks things up",
    "write": "write — changes records",
    "outbound_message": "outbound_message — contacts people",
    "payment": "payment — moves money",
}
CATEGORIES = [(name, CATEGORY_LABELS.get(name, name)) for name in mcp_servers.CATEGORIES]


class SecretForm(forms.Form):
    """Add or replace a secret, and set where it may be sent (admins only: the view checks).
    A blank value keeps the stored one (for changing only the binding or description)."""

    name = forms.RegexField(
        regex=r"^[A-Za-z0-9_-]{1,100}$",
        max_length=100,
        label="Name",
        help_text="Letters, digits, '-' and '_'. Saving under an existing name replaces it.",
        error_messages={"invalid": "Use 1-100 letters, digits, '-' or '_'."},
    )
    description = forms.CharField(
        required=False, max_length=200, label="Description", help_text="What it is for."
    )
    value = forms.CharField(
        required=False,
        strip=False,
        max_length=64_000,
        label="Value",
        help_text=(
            "Write-only: it is encrypted at rest and never shown again. Leave blank to keep "
            "the stored value of an existing secret."
        ),
        widget=forms.PasswordInput(
            render_value=False, attrs={"autocomplete": "new-password", "spellcheck": "false"}
        ),
    )
    allowed_hosts = forms.CharField(
        required=False,
        max_length=13_000,
        label="Allowed hosts",
        help_text=(
            "Where the http tool and provider connections may send it, one per line: "
            "api.example.com, *.example.com, 10.0.0.5:8443. Anywhere else is refused."
        ),
        widget=forms.Textarea(attrs={"rows": 3, "class": "code-input", "spellcheck": "false"}),
    )
    connections = forms.MultipleChoiceField(
        required=False,
        label="Provider connections",
        help_text=(
            "Connections that may send it, as they are now: re-pointing one later stops the "
            "key until an admin saves it here again."
        ),
        widget=forms.CheckboxSelectMultiple,
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        slugs = ProviderConnection.objects.order_by("slug").values_list("slug", flat=True)
        cast(forms.MultipleChoiceField, self.fields["connections"]).choices = [
            (slug, slug) for slug in slugs
        ]

    def clean_allowed_hosts(self) -> list[str]:
        text = self.cleaned_data.get("allowed_hosts") or ""
        return [line.strip() for line in text.splitlines() if line.strip()]

    @staticmethod
    def initial_for(secret: Secret) -> dict[str, Any]:
        return {
            "name": secret.name,
            "description": secret.description,
            "allowed_hosts": "\n".join(secret.allowed_hosts or []),
            "connections": [binding.connection.slug for binding in secret.bindings.all()],
        }


class ConnectionForm(forms.Form):
    slug = forms.SlugField(
        max_length=80, label="Slug", help_text="Agents name their connection by it."
    )
    kind = forms.ChoiceField(choices=ProviderConnection.Kind.choices, label="Kind")
    base_url = forms.URLField(
        required=False,
        max_length=500,
        label="Base URL",
        assume_scheme="https",
        help_text="Blank for the provider's own API; or a gateway, Ollama, vLLM, LM Studio…",
    )
    api_key = forms.ChoiceField(
        required=False,
        label="API key (secret)",
        help_text="Choose a stored secret by name. Admins add secrets on the Secrets page.",
    )
    timeout_seconds = forms.FloatField(
        min_value=1, max_value=600, initial=60.0, label="Timeout (seconds)"
    )

    def __init__(self, *args: Any, editing: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["api_key"]).choices = secret_choices()
        if editing:
            self.fields["slug"].disabled = True
            self.fields["slug"].help_text = "Agents refer to the connection by its slug."


class McpServerForm(forms.Form):
    slug = forms.SlugField(
        max_length=80, label="Slug", help_text="Its tools are named mcp:<slug>/<tool>."
    )
    name = forms.CharField(max_length=200, label="Name")
    transport = forms.ChoiceField(
        choices=[
            (McpServer.Transport.STDIO, "stdio (a command)"),
            (McpServer.Transport.HTTP, "streamable HTTP (a URL)"),
        ],
        widget=forms.RadioSelect,
        label="Transport",
    )
    command = forms.CharField(
        required=False,
        max_length=500,
        label="Command",
        help_text="stdio: the program the worker starts, e.g. /usr/bin/python3.",
    )
    args = forms.CharField(
        required=False,
        label="Arguments",
        help_text="stdio: one argument per line.",
        widget=forms.Textarea(attrs={"rows": 3, "class": "code-input", "spellcheck": "false"}),
    )
    url = forms.URLField(
        required=False,
        max_length=500,
        label="URL",
        assume_scheme="https",
        help_text="Streamable HTTP: the server's MCP endpoint, e.g. http://10.0.0.5:8000/mcp.",
    )
    category = forms.ChoiceField(
        choices=CATEGORIES,
        label="Category of its tools",
        help_text="Policies key on it. Set here only: a tool's description never changes it.",
    )
    headers_secret = forms.ChoiceField(
        required=False,
        label="Credential (secret)",
        help_text="HTTP only: a secret holding a bearer token or a JSON object of headers.",
    )
    enabled = forms.BooleanField(required=False, initial=True, label="Enabled")

    def __init__(self, *args: Any, editing: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["headers_secret"]).choices = secret_choices()
        if editing:
            self.fields["slug"].disabled = True
            self.fields["slug"].help_text = "Tools are named mcp:<slug>/<tool>; it cannot change."

    def clean_args(self) -> list[str]:
        text = self.cleaned_data.get("args") or ""
        return [line.strip() for line in text.splitlines() if line.strip()]

    @staticmethod
    def initial_for(server: McpServer) -> dict[str, Any]:
        return {
            "slug": server.slug,
            "name": server.name,
            "transport": server.transport,
            "command": server.command,
            "args": "\n".join(str(arg) for arg in server.args or []),
            "url": server.url,
            "category": server.category,
            "headers_secret": server.headers_secret.name if server.headers_secret else "",
            "enabled": server.enabled,
        }
