"""Cursor pagination over (created_at, id), newest first: stable under concurrent inserts."""

from __future__ import annotations

import base64
import json
from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import Model, Q, QuerySet

from controlroom import jsondata


class BadCursor(ValueError):
    pass


def encode(created_at: datetime, pk: Any) -> str:
    raw = json.dumps([created_at.isoformat(), str(pk)]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(cursor: str) -> tuple[datetime, str]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        created, pk = jsondata.json_parse(base64.urlsafe_b64decode(padded.encode()), max_depth=2)
        created_at = datetime.fromisoformat(created)
    except (ValueError, TypeError) as exc:
        raise BadCursor("the cursor is not one this API returned") from exc
    if created_at.tzinfo is None:
        raise BadCursor("the cursor is not one this API returned")
    return created_at, str(pk)


def page[M: Model](
    queryset: QuerySet[M], *, cursor: str | None, limit: int
) -> tuple[list[M], str | None]:
    """One page of ``queryset`` (any model with ``created_at`` and ``pk``) after ``cursor``."""
    ordered = queryset.order_by("-created_at", "-pk")
    if cursor:
        created_at, raw_pk = decode(cursor)
        try:
            # A cursor is user input: a key of the wrong shape must be a 400, not a query error.
            pk = queryset.model._meta.pk.to_python(raw_pk)
        except ValidationError as exc:
            raise BadCursor("the cursor is not one this API returned") from exc
        ordered = ordered.filter(Q(created_at__lt=created_at) | Q(created_at=created_at, pk__lt=pk))
    rows = list(ordered[: limit + 1])
    more = len(rows) > limit
    rows = rows[:limit]
    last = rows[-1] if rows else None
    next_cursor = encode(last.created_at, last.pk) if more and last is not None else None  # type: ignore[attr-defined]
    return rows, next_cursor
