"""The record store: small JSON records (contacts, accounts, tickets) keyed by kind and key."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils.text import slugify

from agents.models import Record

MAX_KEY_CHARS = 300


class RecordError(ValueError):
    """A bad kind, key or data."""


def record_upsert(*, kind: str, key: str, data: dict[str, Any]) -> tuple[Record, bool]:
    """Create record ``kind:key`` or merge ``data`` into it; returns ``(record, created)``.

    The merge is shallow: top-level fields in ``data`` replace the stored ones, others stay;
    a field set to ``None`` is removed. The row is locked while merging, so concurrent upserts
    of the same record both land. Merging the same data twice leaves the record as once.
    """
    if not kind or slugify(kind) != kind or len(kind) > 40:
        raise RecordError(f"{kind!r} is not a valid record kind (a slug)")
    if not key or len(key) > MAX_KEY_CHARS:
        raise RecordError(f"a record key is 1 to {MAX_KEY_CHARS} characters")
    if not isinstance(data, dict):
        raise RecordError("record data must be an object")
    with transaction.atomic():
        record, created = Record.objects.select_for_update().get_or_create(kind=kind, key=key)
        merged = {**record.data, **data}
        record.data = {field: value for field, value in merged.items() if value is not None}
        record.save(update_fields=["data", "updated_at"])
    return record, created


def record_get(*, kind: str, key: str) -> Record | None:
    return Record.objects.filter(kind=kind, key=key).first()
