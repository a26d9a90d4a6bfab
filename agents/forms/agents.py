"""The agent form: every writable field of ``Agent``, laid out in fieldsets; and the list's
filters."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from django import forms
from django.forms.models import model_to_dict

from agents import selectors
from agents.agents import agent_fields, agent_problems
from agents.forms.common import SLUG_HELP, JsonTextField, slug_validator
from agents.models import Agent, ProviderConnection
from agents.selectors import PROVIDER_LABELS


@dataclass(frozen=True)
class Fieldset:
    legend: str
    note: str
    fields: list[forms.BoundField]
    key: str


#: How the agent form is laid out. A model field not named here still appears, under "More".
AGENT_FIELDSETS: list[tuple[str, str, str, tuple[str, ...]]] = [
    ("identity", "Identity", "", ("slug", "name", "role")),
    (
        "model",
        "Model",
        "The offline (scripted) provider needs no key: it answers from the script below.",
        ("provider", "model", "connection", "temperature", "max_tokens", "max_turns"),
    ),
    (
        "prices",
        "Prices",
        "Cost per 1,000 tokens, in the workspace currency.",
        (
            "price_in_per_1k",
            "price_out_per_1k",
        ),
    ),
    (
        "instructions",
        "Prompt and memory",
        "Templates run in the sandbox: {{ input.name }}, {{ steps.qualify.output.score }}, "
        "{{ subject }}.",
        ("instructions", "memory_scope"),
    ),
    ("output", "Answer format", "", ("output_mode", "json_mode", "output_schema")),
    ("tools", "Allowed tools", "", ("tools",)),
    (
        "routing",
        "Model routing",
        "Escalate to the next cascade stage when a check fails.",
        ("cascade", "confidence", "min_confidence", "check_condition"),
    ),
    ("script", "Offline provider", "", ("script",)),
]

AGENT_LABELS = {
    "slug": "Slug",
    "role": "Role",
    "provider": "Provider",
    "model": "Model",
    "connection": "Connection",
    "max_tokens": "Max tokens",
    "max_turns": "Max turns",
    "price_in_per_1k": "Input price per 1k tokens",
    "price_out_per_1k": "Output price per 1k tokens",
    "memory_scope": "Memory scope",
    "output_mode": "Output",
    "json_mode": "JSON mode",
    "output_schema": "Output JSON Schema",
    "min_confidence": "Minimum confidence",
    "check_condition": "Check",
}

AGENT_HELP = {
    "role": "One line on what this agent is for.",
    "model": "The provider's model name, e.g. gpt-4o-mini or claude-sonnet-4-5.",
    "connection": "Base URL and API key for OpenAI-compatible and Anthropic models.",
    "temperature": "0 to 2.",
    "max_turns": "Model calls per step when the agent uses tools (1-50).",
    "instructions": "The system prompt, a sandboxed template. Checked when you save.",
    "memory_scope": "Template naming the long-term memory key, e.g. contact:{{ subject }}.",
    "output_schema": "For JSON output: answers are validated against it. Blank for none.",
    "tools": "",
    "cascade": 'Stages tried after this model, e.g. [{"provider": "openai", "model": "gpt-4o"}].',
    "confidence": "Expression giving the answer's confidence; default output.confidence.",
    "min_confidence": "0 to 1. Below it, the next stage answers.",
    "check_condition": "Condition the answer must meet, e.g. output.score >= 0.",
    "script": 'What the offline provider answers: {"responses": ["first", {"score": 80}], '
    '"rules": [{"when": "input.tier == \'gold\'", "response": "…"}]}.',
}


if TYPE_CHECKING:
    _AgentModelForm = forms.ModelForm[Agent]
else:  # Django's ModelForm takes no type argument at run time
    _AgentModelForm = forms.ModelForm


class AgentForm(_AgentModelForm):
    provider = forms.ChoiceField(
        choices=[(value, label) for value, label in PROVIDER_LABELS.items()]
    )
    output_mode = forms.ChoiceField(
        choices=[("text", "Text"), ("json", "JSON")], widget=forms.RadioSelect
    )
    connection = forms.ModelChoiceField(
        queryset=ProviderConnection.objects.order_by("slug"),
        to_field_name="slug",
        required=False,
        empty_label="— none —",
    )
    tools = forms.MultipleChoiceField(
        required=False, widget=forms.CheckboxSelectMultiple, choices=()
    )
    output_schema = JsonTextField(empty=None, rows=8)
    script = JsonTextField(empty={}, rows=8)
    cascade = JsonTextField(empty=[], rows=4)
    instructions = forms.CharField(
        required=False,
        strip=False,
        widget=forms.Textarea(attrs={"rows": 8, "class": "code-input", "spellcheck": "false"}),
    )

    class Meta:
        model = Agent
        fields = agent_fields()  # every writable field, new ones included

    def __init__(self, *args: Any, editing: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # A new agent's form starts from the model's defaults, declared fields included.
        for name, value in model_to_dict(self.instance, agent_fields()).items():
            self.initial.setdefault(name, value)
        self.tool_choices = selectors.tool_choices()
        chosen = set(self.initial.get("tools") or [])
        known = [tool["name"] for tool in self.tool_choices]
        # A tool that is gone (a disabled MCP server) stays visible so it can be unticked.
        cast(forms.ChoiceField, self.fields["tools"]).choices = [
            (name, name) for name in [*known, *sorted(chosen - set(known))]
        ]
        for name, field in self.fields.items():
            field.label = AGENT_LABELS.get(name, field.label)
            if name in AGENT_HELP:
                field.help_text = AGENT_HELP[name]
        self.fields["slug"].help_text = SLUG_HELP
        connection = getattr(self.instance, "connection", None)
        if connection is not None:
            self.initial["connection"] = connection.slug
        self.fields["slug"].validators.append(slug_validator())
        _number(self.fields.get("temperature"), low=0, high=2, step="0.1")
        _number(self.fields.get("min_confidence"), low=0, high=1, step="0.05")
        _number(self.fields.get("max_turns"), low=1, high=50)
        for name in ("price_in_per_1k", "price_out_per_1k"):
            _number(self.fields.get(name), low=0, step="0.000001")
        if editing:
            self.fields["slug"].disabled = True
            self.fields[
                "slug"
            ].help_text = "Flows refer to the agent by its slug; it cannot change."

    def tool_options(self) -> list[tuple[Any, dict[str, Any]]]:
        """Each tool checkbox with what it is (category, description: shown escaped)."""
        info = {tool["name"]: tool for tool in self.tool_choices}
        return [
            (choice, info.get(choice.data["value"], {"missing": True})) for choice in self["tools"]
        ]

    def fieldsets(self) -> list[Fieldset]:
        placed: set[str] = set()
        sets = []
        for key, legend, note, names in AGENT_FIELDSETS:
            present = [self[name] for name in names if name in self.fields]
            placed.update(names)
            if present:
                sets.append(Fieldset(legend=legend, note=note, fields=present, key=key))
        rest = [self[name] for name in self.fields if name not in placed]
        if rest:
            sets.append(Fieldset(legend="More", note="", fields=rest, key="more"))
        return sets

    def _post_clean(self) -> None:
        # The model's checks run once, in ``agents.agents``, with the domain's messages.
        pass

    def agent_values(self) -> dict[str, Any]:
        """What the domain functions take: model field names, the connection by slug."""
        allowed = set(agent_fields())
        values = {
            name: value
            for name, value in self.cleaned_data.items()
            if name in allowed and not self.fields[name].disabled
        }
        if "connection" in values:
            connection = values["connection"]
            values["connection"] = connection.slug if connection is not None else None
        return values

    def add_domain_problems(self, current: dict[str, Any]) -> None:
        """After a failed parse, add what the domain finds wrong with the fields that did
        parse, so one submit shows every problem."""
        for problem in agent_problems({**current, **self.agent_values()}):
            if problem.field in self.fields and problem.field not in self.errors:
                self.add_error(problem.field, problem.message)


def _number(
    field: forms.Field | None, *, low: float, high: float | None = None, step: str = "1"
) -> None:
    if field is None:
        return
    field.widget.attrs.update({"min": low, "step": step})
    if high is not None:
        field.widget.attrs["max"] = high


class AgentFilterForm(forms.Form):
    q = forms.CharField(required=False, label="Search", max_length=100)
    provider = forms.ChoiceField(
        required=False,
        choices=[("", "Any provider"), *PROVIDER_LABELS.items()],
    )
    status = forms.ChoiceField(
        required=False,
        choices=[("", "Active"), ("archived", "Archived"), ("all", "Active and archived")],
    )

    def archived(self) -> bool | None:
        status = self.cleaned_data.get("status") if self.is_valid() else ""
        return {"archived": True, "all": None}.get(status or "", False)
