"""Reads of recorded verdicts, shaped for the run page and the approval card."""

from __future__ import annotations

from django.db.models import QuerySet

from flows.guardrails.models import PolicyVerdict

#: Verdicts shown on one step (a long agent loop can record many allow verdicts).
MAX_SHOWN = 50


def verdict_list(*, step_id: int) -> QuerySet[PolicyVerdict]:
    """A step's verdicts in the order given: the ones that did something first would hide
    the story, so the order is kept and the list is cut at ``MAX_SHOWN``."""
    return PolicyVerdict.objects.filter(step_id=step_id).order_by("id")[:MAX_SHOWN]
