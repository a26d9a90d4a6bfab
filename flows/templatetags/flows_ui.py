"""Formatting filters for the flows pages: durations, money, states. Pure formatting, no reads."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django import template
from django.utils.html import format_html

from flows.pages import format_duration, format_money, state_label

register = template.Library()


DEMO_TITLE = "Demo data: made by the demo workspace; `manage.py demo_remove` removes it"


@register.simple_tag
def demo_badge(demo: Any) -> str:
    """A "demo" label after anything of the demo workspace (``Flow.demo``)."""
    if not demo:
        return ""
    return format_html('<span class="badge-demo" title="{}">demo</span>', DEMO_TITLE)


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
