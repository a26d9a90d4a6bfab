"""Formatting filters for the flows pages: durations, money, states. Pure formatting, no reads."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django import template

from flows.pages import format_duration, format_money, state_label

register = template.Library()


@register.filter
def duration(ms: Any) -> str:
    if ms is None or ms == "":
        return ""
    return format_duration(int(ms))


@register.filter
def duration_between(start: datetime | None, end: datetime | None) -> str:
    if start is None or end is None:
        return ""
    return format_duration(max(0, int((end - start).total_seconds() * 1000)))


@register.filter
def money(value: Any) -> str:
    return format_money(value)


@register.filter
def status_text(state: str | None) -> str:
    return state_label(state)


@register.filter
def short_id(value: Any) -> str:
    return str(value)[:8]
