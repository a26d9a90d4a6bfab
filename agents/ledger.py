"""The effect ledger: every side effect once per idempotency key, across retries and runs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db import transaction

from agents.models import Effect


def effect_once(
    *,
    key: str,
    tool: str,
    category: str,
    subject: str,
    args: dict[str, Any],
    act: Callable[[Effect], Any],
) -> tuple[Any, bool]:
    """Run ``act`` at most once for ``key`` and return ``(result, replayed)``.

    ``act`` runs inside the transaction that records the effect, so a database-side effect
    (an outbox row, a record write) and its ledger row commit together or not at all. A second
    caller with the same key, concurrent or later, waits on the row lock and gets the stored
    result without acting. Effects outside the database (an HTTP call) must pass the key on to
    the other side as well (``Idempotency-Key``).
    """
    with transaction.atomic():
        effect, created = Effect.objects.select_for_update().get_or_create(
            key=key,
            defaults={"tool": tool, "category": category, "subject": subject, "args": args},
        )
        if not created and effect.result is not None:
            return effect.result, True
        result = act(effect)
        effect.result = result
        effect.save(update_fields=["result"])
        return result, False
