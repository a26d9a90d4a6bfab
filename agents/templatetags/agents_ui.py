"""Formatting filters for the agents pages. Pure formatting, no reads."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from django import template

from agents.selectors import provider_label as _provider_label

register = template.Library()


@register.filter
def provider_label(provider: str) -> str:
    return _provider_label(provider)


@register.filter
def price(value: Any) -> str:
    """A price per 1k tokens: "$0.0025", "$0" for free, the sign before the symbol ("-$0.5");
    every significant digit kept."""
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return ""
    if amount == 0:
        return "$0"
    sign = "-" if amount < 0 else ""
    return f"{sign}${abs(amount).normalize():f}"
