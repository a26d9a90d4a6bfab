"""Reading the audit log for the page, the API and exports: one filter parser, one queryset,
and the streamed CSV / JSON Lines rows. Every boundary validates with a precise message."""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone

from agents.models import AuditEvent
from controlroom.moments import MomentError, utc_moment

FILTER_NAMES = ("kind", "action", "actor", "flow", "run", "subject", "since", "until")
EXPORT_COLUMNS = (
    "seq",
    "created_at",
    "kind",
    "action",
    "actor",
    "subject",
    "flow",
    "run_id",
    "step_id",
    "reason",
    "data",
    "prev_hash",
    "hash",
)


@dataclass(frozen=True)
class AuditFilters:
    kind: str = ""
    action: str = ""
    actor: str = ""
    flow: str = ""
    run: uuid.UUID | None = None
    subject: str = ""
    since: datetime | None = None
    until: datetime | None = None

    def query(self) -> dict[str, str]:
        """The filters as they appear in a URL (for pager and export links)."""
        values = {
            "kind": self.kind,
            "action": self.action,
            "actor": self.actor,
            "flow": self.flow,
            "run": str(self.run) if self.run else "",
            "subject": self.subject,
            "since": self.since.isoformat() if self.since else "",
            "until": self.until.isoformat() if self.until else "",
        }
        return {name: value for name, value in values.items() if value}


@dataclass
class FilterProblems(Exception):
    details: list[tuple[str, str]] = field(default_factory=list)

    def __str__(self) -> str:
        return "; ".join(f"{name}: {message}" for name, message in self.details)


def _moment(name: str, raw: str, *, end: bool) -> datetime:
    """A date (``2026-11-21``: the whole day) or an ISO 8601 time; naive means UTC."""
    try:
        if len(raw) == 10:
            day = date.fromisoformat(raw)
            moment = datetime.combine(day + timedelta(days=1) if end else day, time.min)
        else:
            moment = datetime.fromisoformat(raw)
    except ValueError:
        raise FilterProblems([(name, "use a date (2026-11-21) or an ISO 8601 time")]) from None
    if timezone.is_naive(moment):
        moment = moment.replace(tzinfo=UTC)
    try:
        return utc_moment(moment)
    except MomentError as exc:
        raise FilterProblems([(name, f"this time {exc}")]) from None


def audit_filters(params: Mapping[str, str]) -> AuditFilters:
    """Parse the filters from query parameters. Raises ``FilterProblems`` naming each bad one."""
    problems: list[tuple[str, str]] = []
    raw = {name: str(params.get(name, "") or "").strip() for name in FILTER_NAMES}
    for name in ("action", "actor", "flow", "subject"):
        if len(raw[name]) > 300:
            problems.append((name, "at most 300 characters"))
    if raw["kind"] and raw["kind"] not in AuditEvent.Kind.values:
        problems.append(("kind", f"one of {', '.join(AuditEvent.Kind.values)}"))
    run = _run_filter(raw["run"], problems)
    since, until = _period_filter(raw, problems)
    if problems:
        raise FilterProblems(problems)
    return AuditFilters(
        kind=raw["kind"],
        action=raw["action"],
        actor=raw["actor"],
        flow=raw["flow"],
        run=run,
        subject=raw["subject"],
        since=since,
        until=until,
    )


def _run_filter(raw: str, problems: list[tuple[str, str]]) -> uuid.UUID | None:
    """The run id ``raw`` names (None when it is empty); one that is no UUID is added to
    ``problems``."""
    if not raw:
        return None
    try:
        return uuid.UUID(raw)
    except ValueError:
        problems.append(("run", "a run id (a UUID)"))
        return None


def _period_filter(
    raw: Mapping[str, str], problems: list[tuple[str, str]]
) -> tuple[datetime | None, datetime | None]:
    """``since`` and ``until`` from ``raw`` (each None when empty); an unreadable one, or an
    ``until`` not after ``since``, is added to ``problems``."""
    moments: dict[str, datetime | None] = {"since": None, "until": None}
    for name in ("since", "until"):
        if raw[name]:
            try:
                moments[name] = _moment(name, raw[name], end=name == "until")
            except FilterProblems as exc:
                problems.extend(exc.details)
    since, until = moments["since"], moments["until"]
    if since and until and since >= until:
        problems.append(("until", "must be after since"))
    return since, until


def audit_list(filters: AuditFilters) -> QuerySet[AuditEvent]:
    """Audit rows matching ``filters`` (``action`` matches a prefix: ``flow.`` finds every
    flow change); paginate with ``controlroom.pagination.page`` (newest first)."""
    lookups = {
        "kind": filters.kind,
        "action__startswith": filters.action,
        "actor": filters.actor,
        "flow_slug": filters.flow,
        "run_id": filters.run,
        "subject": filters.subject,
        "created_at__gte": filters.since,
        "created_at__lt": filters.until,
    }
    return AuditEvent.objects.filter(**{key: value for key, value in lookups.items() if value})


def audit_row(event: AuditEvent) -> dict[str, Any]:
    """One row as the API and the exports give it."""
    return {
        "seq": event.seq,
        "created_at": event.created_at.isoformat(),
        "kind": event.kind,
        "action": event.action,
        "actor": event.actor,
        "subject": event.subject,
        "flow": event.flow_slug,
        "run_id": str(event.run_id) if event.run_id else None,
        "step_id": event.step_id,
        "reason": event.reason,
        "data": event.data,
        "prev_hash": event.prev_hash,
        "hash": event.hash,
    }


def _oldest_first(filters: AuditFilters) -> Iterator[AuditEvent]:
    # Exports read in chain order with a server-side cursor: memory stays flat however many.
    return audit_list(filters).order_by("created_at", "id").iterator(chunk_size=2000)


def export_jsonl(filters: AuditFilters) -> Iterator[str]:
    for event in _oldest_first(filters):
        yield json.dumps(audit_row(event), ensure_ascii=False, sort_keys=True) + "\n"


def export_csv(filters: AuditFilters) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(EXPORT_COLUMNS)
    for event in _oldest_first(filters):
        row = audit_row(event)
        row["data"] = json.dumps(row["data"], ensure_ascii=False, sort_keys=True)
        writer.writerow([_cell(row[column]) for column in EXPORT_COLUMNS])
        if buffer.tell() > 32_000:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def _cell(value: Any) -> Any:
    """Spreadsheet formula injection: a text cell starting with = + - @ is prefixed with '."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@"):
        return "'" + value
    return "" if value is None else value
