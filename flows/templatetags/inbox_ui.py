"""Formatting filters for the approvals inbox: rates and human minutes. No reads."""

from __future__ import annotations

from typing import Any

from django import template

from flows.approvals.edits import as_text

register = template.Library()


@register.filter
def percent(value: Any) -> str:
    """0.934 → "93%"; None (nothing to rate yet) → "—"."""
    if value is None:
        return "—"
    return f"{float(value) * 100:.0f}%"


@register.filter
def minutes(value: Any) -> str:
    """Human minutes: 0.4 → "24 s", 3.5 → "3.5 min", 95 → "1 h 35 min"; None → "—"."""
    if value is None:
        return "—"
    value = float(value)
    if value < 1:
        return f"{value * 60:.0f} s"
    if value < 60:
        return f"{value:.1f} min"
    hours, rest = divmod(round(value), 60)
    return f"{hours} h {rest:02d} min"


@register.filter
def pretty_json(value: Any) -> str:
    """A value as the text a person reads: strings as they are, JSON indented (escaped by
    the template like any other text)."""
    return as_text(value)
