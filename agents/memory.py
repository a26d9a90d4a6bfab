"""Long-term memory per subject (a contact, a ticket, an account), shared across flows.

A key names a subject, e.g. ``contact:ada@example.com``: an agent's ``memory_scope`` template
rendered against the run's variables (``memory_key``). Whatever flow a run belongs to, if it
renders the same key it reads what earlier runs wrote (``memory_recall``) and adds to it
(``memory_remember``). Entries live ``CONTROLROOM_MEMORY_RETENTION_DAYS`` and a key keeps its
newest ``CONTROLROOM_MEMORY_MAX_PER_KEY``; ``memory_purge`` (Celery beat, hourly) enforces both,
and ``memory_recall`` never returns an expired entry even before the purge has run.

Memory is *history*: what earlier runs learnt. Entries the current run wrote itself are not
history — an agent told "you remember this about the subject" about something its own run
said a minute ago greets a first-time contact as an old acquaintance. So a run recalls with
``exclude_run_id`` set to its own id (``flows.engine.nodes.agent``) and never sees its own
writes as memory; within a run, earlier steps' outputs are read as ``steps.<id>.output``.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from django.conf import settings
from django.db.models import F, Q, Window
from django.db.models.functions import RowNumber
from django.utils import timezone

from agents.models import MemoryEntry
from agents.redaction import redact_value
from controlroom import expressions

MAX_KEY_CHARS = 300  # MemoryEntry.key
MAX_CONTENT_CHARS = 32_000  # as JSON: memory goes into prompts, so it stays small
MAX_RECALL = 100
PURGE_BATCH = 1000

_PART = re.compile(r"\{\{(?P<expr>(?:(?!\}\}|\{\{).)*)\}\}", re.DOTALL)
_EMPTY: tuple[Any, ...] = (None, "", [], {})


class MemoryContentError(ValueError):
    """What was given to remember cannot be stored (not JSON data, too large, bad key)."""


def memory_key(*, scope_template: str, variables: dict[str, Any]) -> str | None:
    """The memory key an agent's ``memory_scope`` template names for these run variables.

    None when the template is blank, renders blank, or any ``{{ … }}`` part of it is empty
    (``contact:{{ subject }}`` for a run without a subject): otherwise every such run would share
    one key and read each other's memories. A key longer than ``MAX_KEY_CHARS`` is shortened
    deterministically (prefix + hash), so the same subject always maps to the same key.
    Raises ``controlroom.expressions.ExpressionError`` when the template does not render.
    """
    template = (scope_template or "").strip()
    if not template:
        return None
    for part in _PART.finditer(template):
        if expressions.render("{{" + part.group("expr") + "}}", variables) in _EMPTY:
            return None
    rendered = expressions.render(template, variables)
    key = (rendered if isinstance(rendered, str) else _json(rendered)).strip()
    if not key:
        return None
    if len(key) > MAX_KEY_CHARS:
        digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]
        key = f"{key[: MAX_KEY_CHARS - 17]}#{digest}"
    return key


def memory_recall(
    *, key: str, limit: int = 10, exclude_run_id: UUID | None = None
) -> list[dict[str, Any]]:
    """The newest ``limit`` (at most ``MAX_RECALL``) unexpired entries under ``key``, newest
    first, as JSON data ready for a prompt or a step's input:
    ``{"agent", "kind", "content", "created_at" (ISO 8601), "run_id" (str or None)}``. Read-only.
    With ``exclude_run_id``, what that run wrote is left out (a run's own writes are not
    history; see the module docstring)."""
    limit = max(0, min(limit, MAX_RECALL))
    if not key or not limit:
        return []
    entries = MemoryEntry.objects.filter(key=key)
    if exclude_run_id is not None:
        # run_id may be NULL (entries written outside a run): those stay history.
        entries = entries.exclude(run_id=exclude_run_id)
    rows = (
        entries.filter(Q(expires_at__isnull=True) | Q(expires_at__gt=timezone.now()))
        .order_by("-created_at", "-id")
        .values("agent", "kind", "content", "created_at", "run_id")[:limit]
    )
    return [
        {
            "agent": row["agent"],
            "kind": row["kind"],
            "content": row["content"],
            "created_at": row["created_at"].isoformat(),
            "run_id": str(row["run_id"]) if row["run_id"] else None,
        }
        for row in rows
    ]


def memory_remember(
    *,
    key: str,
    agent: str,
    content: Any,
    kind: str = "note",
    run_id: UUID | None = None,
    step_id: int | None = None,
) -> MemoryEntry:
    """Remember ``content`` (JSON data; secret values and credential shapes redacted first)
    under ``key`` until the retention period ends.

    Idempotent per step: with a ``step_id``, a retried attempt replaces the entry its earlier
    attempt wrote for the same (key, agent, kind) instead of adding a second one.
    Raises ``MemoryContentError`` for a blank or over-long key, agent or kind, or content that
    is not JSON data or exceeds ``MAX_CONTENT_CHARS`` as JSON.
    """
    _check_label("key", key, MAX_KEY_CHARS)
    _check_label("kind", kind, 40)
    if len(agent) > 80:
        raise MemoryContentError("a memory entry's agent is at most 80 characters")
    content = redact_value(content)
    try:
        size = len(_json(content))
    except (TypeError, ValueError) as exc:
        raise MemoryContentError(f"memory content must be JSON data: {exc}") from exc
    if size > MAX_CONTENT_CHARS:
        raise MemoryContentError(f"memory content exceeds {MAX_CONTENT_CHARS} characters as JSON")
    fields = {"content": content, "run_id": run_id, "expires_at": _expiry(timezone.now())}
    if step_id is None:
        return MemoryEntry.objects.create(key=key, agent=agent, kind=kind, **fields)
    entry, _ = MemoryEntry.objects.update_or_create(
        key=key, agent=agent, kind=kind, step_id=step_id, defaults=fields
    )
    return entry


def memory_purge(*, now: datetime | None = None) -> int:
    """Delete entries expired at ``now`` (default: the current time), then each key's entries
    beyond its newest ``MEMORY_MAX_PER_KEY``; returns how many rows went. Bounded batches,
    idempotent, safe to run while runs read and write memory."""
    now = now or timezone.now()
    deleted = _delete_in_batches(MemoryEntry.objects.filter(expires_at__lte=now))
    keep = int(settings.CONTROLROOM["MEMORY_MAX_PER_KEY"])
    surplus = (
        MemoryEntry.objects.annotate(
            newest=Window(
                RowNumber(),
                partition_by=[F("key")],
                order_by=[F("created_at").desc(), F("id").desc()],
            )
        )
        .filter(newest__gt=keep)
        .values_list("id", flat=True)
    )
    ids = list(surplus)
    for start in range(0, len(ids), PURGE_BATCH):
        count, _ = MemoryEntry.objects.filter(id__in=ids[start : start + PURGE_BATCH]).delete()
        deleted += count
    return deleted


def _delete_in_batches(queryset: Any) -> int:
    deleted = 0
    while ids := list(queryset.values_list("id", flat=True)[:PURGE_BATCH]):
        count, _ = MemoryEntry.objects.filter(id__in=ids).delete()
        deleted += count
    return deleted


def _expiry(now: datetime) -> datetime:
    return now + timedelta(days=int(settings.CONTROLROOM["MEMORY_RETENTION_DAYS"]))


def _check_label(what: str, value: str, limit: int) -> None:
    if not value or len(value) > limit:
        raise MemoryContentError(f"a memory entry's {what} is 1-{limit} characters")


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, allow_nan=False, sort_keys=True)
