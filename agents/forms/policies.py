"""The policy form (one form for every kind: the config is JSON checked per kind by the domain),
the period a simulation replays, and the list's filters. Parsing only: ``agents.policies.manage``
decides what is valid and writes."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django import forms
from django.utils import timezone

from agents.forms.common import JsonTextField, slug_validator
from agents.models import Policy
from agents.policies import KINDS, SCOPES, VERDICTS
from agents.policies.manage import EXPLANATIONS
from agents.policies.simulator import MAX_PERIOD, Period

#: A working config per kind, shown beside the form (and the starting point of a new policy).
EXAMPLES: dict[str, dict[str, Any]] = {
    "approval": {"categories": ["payment"], "when": "args.amount > 500"},
    "rate_limit": {"categories": ["outbound_message"], "max": 1, "window": "24h"},
    "quiet_hours": {"time_zone": "Europe/Berlin", "start": "20:00", "end": "08:00"},
    "budget": {"per": "run", "max_tokens": 20000, "max_cost": "0.50"},
    "limits": {"max_steps": 200, "max_loop_iterations": 10, "max_run_seconds": 900},
    "tool_scope": {"agents": ["writer"], "deny": ["send_email"]},
    "pii": {"detect": ["email", "phone", "card", "iban"], "restore": True},
    "content": {"phrases": ["guaranteed returns"], "patterns": [{"regex": "\\bpassword\\b"}]},
}
#: ``(kind, explanation, example config as indented JSON)`` for the pages.
KIND_HELP = [(kind, EXPLANATIONS[kind], json.dumps(EXAMPLES[kind])) for kind in KINDS]

#: Domain pointers (``/config/window``) to the form field that shows them.
FIELD_OF = {
    "slug": "slug",
    "name": "name",
    "kind": "kind",
    "scope": "scope",
    "target": "target",
    "verdict": "verdict",
    "reason": "reason",
    "config": "config",
    "enabled": "enabled",
}


def _choices(values: tuple[str, ...], model_choices: Any) -> list[tuple[str, str]]:
    labels = dict(model_choices)
    return [(value, str(labels.get(value, value))) for value in values]


class PolicyForm(forms.Form):
    slug = forms.CharField(
        max_length=80,
        validators=[slug_validator()],
        help_text="Lower-case letters, digits and '-'. Verdicts and the audit log name it; it "
        "cannot change later.",
    )
    name = forms.CharField(max_length=200)
    kind = forms.ChoiceField(choices=_choices(KINDS, Policy.Kind.choices))
    scope = forms.ChoiceField(
        choices=_choices(SCOPES, Policy.Scope.choices),
        help_text="Where it applies: everywhere, or to one flow, agent or tool.",
    )
    target = forms.CharField(
        max_length=200,
        required=False,
        help_text="The flow slug, agent slug or tool name; empty for a global policy.",
    )
    verdict = forms.ChoiceField(
        choices=_choices(VERDICTS, Policy.Verdict.choices),
        help_text="What happens when its condition holds. Each kind allows some verdicts.",
    )
    reason = forms.CharField(
        max_length=500,
        required=False,
        help_text="What people read in the inbox and the audit log.",
    )
    config = JsonTextField(
        empty={}, rows=8, help_text="JSON; see the example for the chosen kind beside the form."
    )
    enabled = forms.BooleanField(
        required=False,
        help_text="Simulate first: a new or changed policy applies to new steps once enabled.",
    )

    def __init__(self, *args: Any, editing: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if editing:
            self.fields["slug"].disabled = True

    @classmethod
    def for_policy(cls, policy: Policy, data: Any = None) -> PolicyForm:
        initial = {name: getattr(policy, name) for name in FIELD_OF}
        return cls(data, initial=initial, editing=True)

    def policy_values(self) -> dict[str, Any]:
        data = dict(self.cleaned_data)
        data["target"] = (data.get("target") or "").strip()
        return data

    def add_problems(self, problems: list[tuple[str, str]]) -> None:
        """Show the domain's ``(pointer, message)`` problems on their fields."""
        for pointer, message in problems:
            top, _, rest = pointer.lstrip("/").partition("/")
            field = FIELD_OF.get(top)
            shown = f"at /{rest}: {message}" if field == "config" and rest else message
            self.add_error(field if field in self.fields else None, shown)


class SimulationForm(forms.Form):
    """The period a simulation replays: whole UTC days, the last 7 by default."""

    since = forms.DateField(
        required=False, widget=forms.DateInput(attrs={"type": "date"}), label="From (UTC day)"
    )
    until = forms.DateField(
        required=False, widget=forms.DateInput(attrs={"type": "date"}), label="To (UTC day)"
    )
    flow = forms.CharField(
        required=False, max_length=80, label="Flow", help_text="A flow slug; empty for all."
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        today = timezone.now().astimezone(UTC).date()
        until: date = data.get("until") or today
        since: date = data.get("since") or until - timedelta(days=7)
        if since > until:
            self.add_error("until", "The end is before the start.")
        elif (until - since) + timedelta(days=1) > MAX_PERIOD:
            self.add_error("since", f"Choose at most {MAX_PERIOD.days} days.")
        data["since"], data["until"] = since, until
        return data

    def shown(self) -> SimulationForm:
        """An unbound copy showing the period actually replayed (defaults filled in)."""
        initial = {name: self.cleaned_data.get(name) for name in ("since", "until", "flow")}
        return SimulationForm(initial=initial, prefix=self.prefix)

    def period(self) -> Period:
        start = datetime.combine(self.cleaned_data["since"], time.min, tzinfo=UTC)
        end = datetime.combine(self.cleaned_data["until"], time.min, tzinfo=UTC)
        return Period(
            since=start,
            until=end + timedelta(days=1),
            flow=(self.cleaned_data.get("flow") or "").strip(),
        )


class PolicyFilterForm(forms.Form):
    q = forms.CharField(required=False, max_length=100, label="Search")
    kind = forms.ChoiceField(
        required=False, choices=[("", "Any kind"), *_choices(KINDS, Policy.Kind.choices)]
    )
    scope = forms.ChoiceField(
        required=False, choices=[("", "Any scope"), *_choices(SCOPES, Policy.Scope.choices)]
    )
    target = forms.CharField(required=False, max_length=200, label="Target")
    status = forms.ChoiceField(
        required=False,
        label="Show",
        choices=[("", "Enabled and disabled"), ("enabled", "Enabled"), ("disabled", "Disabled")],
    )

    def enabled(self) -> bool | None:
        status = self.cleaned_data.get("status") if self.is_valid() else ""
        return {"enabled": True, "disabled": False}.get(status or "")
