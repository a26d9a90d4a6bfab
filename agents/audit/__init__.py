"""The audit log: record (cheap, inside the caller's transaction), seal, verify.

Why rows are sealed later instead of chained at insert: chaining at insert means reading the
previous row's hash and writing the next under one lock held until the writer commits, which
would serialise every step transition of every worker behind one row. Here a writer only
INSERTs an unsealed row (no lock beyond its own row). The sealer (``audit_seal``: the Celery
beat task ``agents.audit_seal`` every second, and callable directly by tests and
``audit_verify``) runs under a PostgreSQL advisory lock, so only one sealer works at a time;
it takes committed unsealed rows in id order, gives them the next gapless ``seq`` and sets
``prev_hash`` and ``hash`` = SHA-256 of the canonical JSON of
(seq, prev_hash, created_at, kind, action, actor, subject, ids, reason, data).
The order of the chain is the order of sealing, which is a total order of committed rows.

Append-only is enforced in PostgreSQL by a trigger (migration ``agents.0005_audit``): DELETE is
refused, INSERT must come unsealed, UPDATE may only seal an unsealed row without changing its
content. Changing a row therefore needs a superuser to disable the trigger — and then
``audit_verify`` finds the first row whose hash or link no longer matches.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC
from typing import Any, Required, TypedDict, Unpack
from uuid import UUID

from django.db import connection, transaction
from django.utils import timezone

from agents.models import AuditEvent, AuditVerification
from agents.redaction import redact, redact_value
from controlroom import batch

logger = logging.getLogger(__name__)

KINDS = frozenset(AuditEvent.Kind.values)
# pg_advisory_xact_lock key: "audit" in ASCII. One sealer at a time, cluster-wide.
SEAL_LOCK_KEY = 0x6175646974
SEAL_BATCH = 2000
MAX_REASON_CHARS = 2000
# Data is a summary, not a copy: anything bigger is cut (and says so) before it is stored.
MAX_DATA_CHARS = 4000

_INSERT_SQL = (
    "INSERT INTO agents_auditevent (created_at, kind, action, actor_id, actor, subject, "
    "flow_slug, run_id, step_id, reason, data, prev_hash, hash) "
    "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s::jsonb, '', '')"
)


# Who is acting in this request: set by ``AuditActorMiddleware`` (resolved lazily, because the
# API's bearer auth sets ``request.user`` after the middleware ran). Domain functions that take
# no user (agent_create, secret_set...) are still audited with the person behind the request.
_request_actor: ContextVar[Callable[[], Any] | None] = ContextVar("audit_actor", default=None)


class AuditActorMiddleware:
    """Makes the request's user the default ``actor`` of every audit row written while the
    request is handled (pages and the API alike)."""

    def __init__(self, get_response: Callable[[Any], Any]) -> None:
        self.get_response = get_response

    def __call__(self, request: Any) -> Any:
        token = _request_actor.set(lambda: getattr(request, "user", None))
        try:
            return self.get_response(request)
        finally:
            _request_actor.reset(token)


def _actor(actor: Any) -> tuple[int | None, str]:
    if actor is None:
        resolve = _request_actor.get()
        actor = resolve() if resolve is not None else None
    if actor is None:
        return None, ""
    if isinstance(actor, str):
        return None, actor[:150]
    if not getattr(actor, "is_authenticated", False):
        return None, ""
    return actor.pk, actor.get_username()[:150]


def _small(data: dict[str, Any] | None) -> dict[str, Any]:
    if not data:
        return {}
    cleaned = redact_value(data)
    text = json.dumps(cleaned, default=str, ensure_ascii=False)
    if len(text) <= MAX_DATA_CHARS:
        return json.loads(text)  # type: ignore[no-any-return]
    return {"truncated": True, "summary": text[:MAX_DATA_CHARS]}


class AuditFields(TypedDict, total=False):
    """What an audit row says (``audit_record``, ``audit_append``)."""

    kind: Required[str]
    action: Required[str]
    reason: str
    actor: Any
    subject: str
    flow_slug: str
    run_id: UUID | str | None
    step_id: int | None
    data: dict[str, Any] | None


def audit_record(**fields: Unpack[AuditFields]) -> AuditEvent:
    """Append one unsealed audit row in the caller's transaction (it commits or rolls back
    with the change it describes). ``actor`` is a user, a name (``"system"``) or None.
    ``reason`` and ``data`` are redacted (no secret value is ever stored); ``data`` must be
    small and JSON-like (bigger is cut). Takes no lock but the new row's. Without ``actor``,
    the user of the current request (``AuditActorMiddleware``) is named; outside a request,
    nobody (shown as "system")."""
    event = _event(**fields)
    # A raw INSERT: half the cost of Model.save()'s machinery.
    with connection.cursor() as cursor:
        cursor.execute(_INSERT_SQL + " RETURNING id", _params(event))
        event.id = cursor.fetchone()[0]
    event._state.adding = False
    return event


def audit_append(**fields: Unpack[AuditFields]) -> None:
    """``audit_record`` for the engine's hot path: the row is not returned, so inside
    ``controlroom.batch.batched()`` it joins the transaction's other history rows in one
    round trip."""
    batch.execute(_INSERT_SQL, _params(_event(**fields)))


def _event(
    *,
    kind: str,
    action: str,
    reason: str = "",
    actor: Any = None,
    subject: str = "",
    flow_slug: str = "",
    run_id: UUID | str | None = None,
    step_id: int | None = None,
    data: dict[str, Any] | None = None,
) -> AuditEvent:
    if kind not in KINDS:
        raise ValueError(f"unknown audit kind {kind!r}; one of {sorted(KINDS)}")
    actor_id, actor_name = _actor(actor)
    return AuditEvent(
        created_at=timezone.now(),
        kind=kind,
        action=action[:80],
        actor_id=actor_id,
        actor=actor_name,
        subject=redact(subject or "")[:300],
        flow_slug=flow_slug[:80],
        run_id=UUID(str(run_id)) if run_id else None,
        step_id=step_id,
        reason=redact(reason or "")[:MAX_REASON_CHARS],
        data=_small(data),
    )


def _params(event: AuditEvent) -> list[Any]:
    return [
        event.created_at,
        event.kind,
        event.action,
        event.actor_id,
        event.actor,
        event.subject,
        event.flow_slug,
        event.run_id,
        event.step_id,
        event.reason,
        json.dumps(event.data),
    ]


# --- The chain ----------------------------------------------------------------------------------


def canonical(
    *,
    seq: int,
    prev_hash: str,
    created_at: Any,
    kind: str,
    action: str,
    actor_id: int | None,
    actor: str,
    subject: str,
    flow_slug: str,
    run_id: UUID | None,
    step_id: int | None,
    reason: str,
    data: Any,
) -> bytes:
    """The exact bytes a row's hash covers: sorted keys, no whitespace, UTF-8."""
    body = {
        "seq": seq,
        "prev_hash": prev_hash,
        "created_at": created_at.astimezone(UTC).isoformat(),
        "kind": kind,
        "action": action,
        "actor": {"id": actor_id, "name": actor},
        "subject": subject,
        "ids": {"flow": flow_slug, "run": str(run_id) if run_id else None, "step": step_id},
        "reason": reason,
        "data": data,
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def row_hash(row: dict[str, Any]) -> str:
    fields = {name: row[name] for name in _HASHED}
    return hashlib.sha256(canonical(**fields)).hexdigest()


_HASHED = (
    "seq",
    "prev_hash",
    "created_at",
    "kind",
    "action",
    "actor_id",
    "actor",
    "subject",
    "flow_slug",
    "run_id",
    "step_id",
    "reason",
    "data",
)
_CONTENT = [name for name in _HASHED if name not in ("seq", "prev_hash")]


def _head() -> tuple[int, str]:
    last = (
        AuditEvent.objects.filter(seq__isnull=False)
        .order_by("-seq")
        .values_list("seq", "hash")
        .first()
    )
    return (int(last[0] or 0), last[1]) if last else (0, "")


def audit_seal(*, wait: bool = True, limit: int | None = None) -> int:
    """Seal every committed unsealed row (at most ``limit``), in id order; returns how many.

    One sealer at a time (transaction-scoped advisory lock): with ``wait=False`` a second
    caller returns 0 at once instead of queueing behind the first (the periodic task)."""
    sealed = 0
    while limit is None or sealed < limit:
        batch = SEAL_BATCH if limit is None else min(SEAL_BATCH, limit - sealed)
        with transaction.atomic():
            with connection.cursor() as cursor:
                if wait:
                    cursor.execute("SELECT pg_advisory_xact_lock(%s)", [SEAL_LOCK_KEY])
                else:
                    cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [SEAL_LOCK_KEY])
                    if not cursor.fetchone()[0]:
                        return sealed
            done = _seal_batch(batch)
        sealed += done
        if done < batch:
            break
    return sealed


def _seal_batch(batch: int) -> int:
    rows = list(
        AuditEvent.objects.filter(seq__isnull=True).order_by("id").values("id", *_CONTENT)[:batch]
    )
    if not rows:
        return 0
    seq, prev = _head()
    ids, seqs, prevs, hashes = [], [], [], []
    for row in rows:
        seq += 1
        digest = row_hash({**row, "seq": seq, "prev_hash": prev})
        ids.append(row["id"])
        seqs.append(seq)
        prevs.append(prev)
        hashes.append(digest)
        prev = digest
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE agents_auditevent AS a SET seq = v.seq, prev_hash = v.prev, hash = v.h "
            "FROM unnest(%s::bigint[], %s::bigint[], %s::text[], %s::text[]) "
            "AS v(id, seq, prev, h) "
            "WHERE a.id = v.id AND a.seq IS NULL",
            [ids, seqs, prevs, hashes],
        )
    return len(rows)


@dataclass(frozen=True)
class ChainCheck:
    ok: bool
    checked: int
    up_to_seq: int
    broken_seq: int | None = None
    broken_id: int | None = None
    message: str = ""


def _sealed_rows(chunk: int = 2000) -> Iterator[dict[str, Any]]:
    after = 0
    while True:
        rows = list(
            AuditEvent.objects.filter(seq__gt=after)
            .order_by("seq")
            .values("id", "seq", "prev_hash", "hash", *_CONTENT)[:chunk]
        )
        if not rows:
            return
        yield from rows
        after = rows[-1]["seq"]


def audit_verify(*, seal_first: bool = True, record: bool = True) -> ChainCheck:
    """Walk the whole chain from seq 1 and report the first row that does not hold: a gap in
    ``seq`` (a deleted row), a ``prev_hash`` that is not the previous row's hash (a deleted
    or reordered row), or a ``hash`` that does not match the row's content (an edited row).
    Seals pending rows first (``seal_first``) and stores the outcome (``record``)."""
    if seal_first:
        audit_seal()
    expected_seq, prev, checked = 1, "", 0
    result: ChainCheck | None = None
    for row in _sealed_rows():
        problem = ""
        if row["seq"] != expected_seq:
            problem = f"seq {expected_seq} is missing (next row found is seq {row['seq']})"
        elif row["prev_hash"] != prev:
            problem = f"seq {row['seq']} does not link to the hash of seq {expected_seq - 1}"
        elif row_hash(row) != row["hash"]:
            problem = f"seq {row['seq']} (id {row['id']}) was changed after it was sealed"
        if problem:
            result = ChainCheck(
                ok=False,
                checked=checked,
                up_to_seq=expected_seq - 1,
                broken_seq=row["seq"],
                broken_id=row["id"],
                message=problem,
            )
            break
        checked += 1
        prev = row["hash"]
        expected_seq += 1
    if result is None:
        result = ChainCheck(ok=True, checked=checked, up_to_seq=expected_seq - 1)
        result = _truncation(result)
    if record:
        AuditVerification.objects.create(
            ok=result.ok,
            checked=result.checked,
            up_to_seq=result.up_to_seq,
            broken_seq=result.broken_seq,
            message=result.message,
        )
    return result


def _truncation(check: ChainCheck) -> ChainCheck:
    """A chain that holds but is shorter than one verified before lost its newest rows (a
    gap or a broken link cannot show that: nothing follows the last row)."""
    verified = (
        AuditVerification.objects.filter(ok=True)
        .order_by("-up_to_seq")
        .values_list("up_to_seq", flat=True)
        .first()
    )
    if verified is None or verified <= check.up_to_seq:
        return check
    return ChainCheck(
        ok=False,
        checked=check.checked,
        up_to_seq=check.up_to_seq,
        broken_seq=check.up_to_seq + 1,
        message=(
            f"the chain ends at seq {check.up_to_seq}, but seq {verified} was verified "
            "before: its newest rows were removed"
        ),
    )


@dataclass(frozen=True)
class ChainStatus:
    sealed_up_to: int
    unsealed: int
    last_check: AuditVerification | None


def audit_chain_status() -> ChainStatus:
    """What the audit page shows: the sealed head, the backlog, the last verification."""
    seq, _ = _head()
    return ChainStatus(
        sealed_up_to=seq,
        unsealed=AuditEvent.objects.filter(seq__isnull=True).count(),
        last_check=AuditVerification.objects.first(),
    )
