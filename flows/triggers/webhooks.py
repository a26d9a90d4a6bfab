"""Inbound webhooks: a per-flow endpoint that starts runs, and one that records outcomes.

Checks run cheapest first and all before the body is parsed: content type, declared size,
signature header and its age, then the body is read (capped) and its HMAC verified against
every secret the endpoint currently accepts. Only a verified body is decoded and parsed; only
then is anything written.

Deduplication. The signature covers ``"<t>.<raw body>"`` and nothing else: the event id
header (``X-Event-Id`` or ``Idempotency-Key``) is not signed, so an event id alone cannot tell
a replay from a new event. Every accepted request is therefore remembered by the hash of what
its signature covers (``WebhookReceipt``, per endpoint, for as long as that signature could be
accepted) together with the key it was deduplicated under: the event id when the sender gave
one, else the signed hash. A request is the same event as an earlier one when

- it carries the same signed ``t`` and body (a replay — with any event id, a fresh one, or
  none): it is answered under the first request's key, or
- it carries the same event id (a sender's retry, re-signed with a new ``t``).

Either way the endpoint answers as for any repeat (202, the original run or outcome,
``created: false``) and creates nothing.
"""

from __future__ import annotations

import secrets as pysecrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from agents import secrets
from agents.audit import audit_record
from controlroom import jsondata
from flows.engine import runs
from flows.graph import row_key
from flows.models import Flow, Run, WebhookReceipt, WebhookSecret
from flows.triggers import live, signing

MAX_DEPTH = 32
MAX_EVENT_ID = 150


class WebhookError(Exception):
    """A webhook request refused; nothing was written. ``status`` is the HTTP status."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Inbound:
    """What the adapter hands over: headers, the declared length, and a capped body reader."""

    headers: Mapping[str, str]
    content_type: str
    content_length: int | None
    read: Callable[[int], bytes]


@dataclass(frozen=True)
class IssuedSecret:
    name: str
    number: int
    value: str
    previous_valid_until: Any


# --- secrets --------------------------------------------------------------------------------


def webhook_secret_issue(*, flow: Flow | None, overlap_seconds: int = 86_400) -> IssuedSecret:
    """Create a new signing secret for ``flow``'s endpoint (None: the outcomes endpoint) and
    return its value, once. Secrets issued earlier stay valid for ``overlap_seconds`` more
    (at most; an earlier deadline is kept), so senders can switch without losing events."""
    now = timezone.now()
    with transaction.atomic():
        # Serialise issuers for one endpoint so two rotations do not pick the same number.
        if flow is not None:
            Flow.objects.select_for_update().filter(id=flow.id).first()
        existing = WebhookSecret.objects.select_for_update().filter(flow=flow)
        number = max((s.number for s in existing), default=0) + 1
        deadline = now + timedelta(seconds=max(0, overlap_seconds))
        for old in existing:
            if old.expires_at is None or old.expires_at > deadline:
                old.expires_at = deadline
                old.save(update_fields=["expires_at"])
        scope = str(flow.id) if flow is not None else "outcomes"
        name = f"webhook-{scope}-{number}"
        value = "whsec_" + pysecrets.token_urlsafe(32)
        secrets.secret_set(name=name, value=value, description="webhook signing secret")
        WebhookSecret.objects.create(flow=flow, number=number, name=name)
        forget_secrets(flow)  # now, and once more when the change is visible to others
        transaction.on_commit(lambda: forget_secrets(flow))
        audit_record(
            kind="config",
            action="webhook_secret.issued",
            subject=name,
            flow_slug=flow.slug if flow is not None else "",
            data={"number": number, "overlap_seconds": overlap_seconds},
        )
    return IssuedSecret(name, number, value, deadline if number > 1 else None)


def webhook_secret_reveal(*, flow: Flow, number: int) -> tuple[WebhookSecret, str]:
    """The row and plaintext of signing secret ``number`` of ``flow``'s endpoint, for a
    designer to paste into the sending system again. Secrets are stored encrypted (retrievable),
    so this is possible; each reveal is recorded in the audit log (who, which secret — never the
    value) in the caller's transaction. The adapter checks the role. Raises ``WebhookError``:
    404 for an unknown number, 409 for a secret that expired or whose value is gone."""
    row = WebhookSecret.objects.filter(flow=flow, number=number).first()
    if row is None:
        raise WebhookError(404, "not_found", f"flow {flow.slug!r} has no signing secret {number}")
    if row.expires_at is not None and row.expires_at <= timezone.now():
        when = row.expires_at.isoformat(timespec="seconds")
        raise WebhookError(409, "expired", f"signing secret {number} expired at {when}")
    try:
        value = secrets.secret_reveal(row.name)
    except secrets.SecretMissing:
        raise WebhookError(409, "missing", f"signing secret {number} has no stored value") from None
    audit_record(
        kind="config",
        action="webhook_secret.revealed",
        subject=row.name,
        flow_slug=flow.slug,
        data={"number": number},
    )
    return row, value


#: How long a process keeps an endpoint's secrets before reading them again. Expiry is checked
#: on every request; a change made by another process (a rotation moving an old secret's
#: deadline, a new secret) is seen within this time.
SECRETS_TTL_SECONDS = 5.0
_SECRETS: dict[tuple[str, ...], tuple[float, list[tuple[Any, str]]]] = {}


def accepted_secrets(flow: Flow | None) -> list[str]:
    """The secrets ``flow``'s endpoint accepts now (None: the outcomes endpoint). Read and
    decrypted at most every ``SECRETS_TTL_SECONDS`` per process: intake under load must not
    pay two queries and a decryption per request."""
    key = row_key(flow.id if flow is not None else None)
    cached = _SECRETS.get(key)
    if cached is None or time.monotonic() - cached[0] > SECRETS_TTL_SECONDS:
        rows = []
        for row in WebhookSecret.objects.filter(flow=flow):
            try:
                rows.append((row.expires_at, secrets.secret_reveal(row.name)))
            except secrets.SecretMissing:
                continue
        cached = (time.monotonic(), rows)
        _SECRETS[key] = cached
    now = timezone.now()
    return [value for expires_at, value in cached[1] if expires_at is None or expires_at > now]


def forget_secrets(flow: Flow | None) -> None:
    """Drop this process's copy of an endpoint's secrets (after issuing or revoking one)."""
    _SECRETS.pop(row_key(flow.id if flow is not None else None), None)


# --- receiving --------------------------------------------------------------------------------


def _verified_body(inbound: Inbound, flow: Flow | None) -> tuple[bytes, signing.Signature]:
    if inbound.content_type.split(";")[0].strip().lower() != "application/json":
        raise WebhookError(415, "unsupported_media_type", "the body must be application/json")
    cap = int(settings.CONTROLROOM["WEBHOOK_MAX_BYTES"])
    if inbound.content_length is not None and inbound.content_length > cap:
        raise WebhookError(413, "too_large", f"the body exceeds {cap} bytes")
    try:
        signature = signing.parse(inbound.headers.get(signing.HEADER))
        signing.check_fresh(
            signature,
            now=time.time(),
            tolerance=int(settings.CONTROLROOM["WEBHOOK_TOLERANCE_SECONDS"]),
        )
    except signing.SignatureError as exc:
        raise WebhookError(401, "bad_signature", str(exc)) from None
    body = inbound.read(cap + 1)
    if len(body) > cap:
        raise WebhookError(413, "too_large", f"the body exceeds {cap} bytes")
    keys = accepted_secrets(flow)
    if not keys:
        raise WebhookError(401, "bad_signature", "this endpoint has no signing secret yet")
    try:
        signing.verify(signature, body, keys)
    except signing.SignatureError as exc:
        raise WebhookError(401, "bad_signature", str(exc)) from None
    return body, signature


def _parse(body: bytes) -> dict[str, Any]:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise WebhookError(400, "invalid_body", "the body is not UTF-8") from None
    try:
        data = jsondata.json_parse(text, max_depth=MAX_DEPTH)
    except ValueError as exc:
        raise WebhookError(400, "invalid_body", f"the body is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise WebhookError(400, "invalid_body", "the body must be a JSON object")
    problem = jsondata.first_problem(data, max_values=len(body) + 1, max_depth=MAX_DEPTH)
    if problem is not None:
        raise WebhookError(400, "invalid_body", problem[1])
    return data


def _dedupe_key(inbound: Inbound, signed: str) -> str:
    """The key the sender asked for: ``hook:<event id>``, else ``hook-sig:<signed hash>``."""
    event_id = inbound.headers.get("X-Event-Id") or inbound.headers.get("Idempotency-Key")
    if event_id is not None:
        if not (0 < len(event_id) <= MAX_EVENT_ID):
            raise WebhookError(400, "invalid", f"the event id must be 1 to {MAX_EVENT_ID} chars")
        return f"hook:{event_id}"
    return f"hook-sig:{signed}"


_RECEIPT_INSERT = (
    f"INSERT INTO {WebhookReceipt._meta.db_table} (endpoint, signed, event_key, created_at) "
    "VALUES (%s, %s, %s, now()) ON CONFLICT (endpoint, signed) DO NOTHING RETURNING event_key"
)


def webhook_receipt_key(*, endpoint: str, signed: str, key: str) -> str:
    """The key to deduplicate a verified request under: ``key`` the first time this signed
    content (``signed``, the hash of ``"<t>.<body>"``) reaches ``endpoint``, else the key the
    first request was given — so a replay with another event id is the same event.

    One statement on the first delivery (an insert that also detects the repeat), in its own
    autocommit: a concurrent twin waits on the unique index and then reads the winner's key.
    A receipt whose run or outcome never committed is harmless: its key is simply used again.
    """
    with connection.cursor() as cursor:
        cursor.execute(_RECEIPT_INSERT, [endpoint, signed, key])
        row = cursor.fetchone()
    if row is not None:
        return str(row[0])
    first = (
        WebhookReceipt.objects.filter(endpoint=endpoint, signed=signed)
        .values_list("event_key", flat=True)
        .first()
    )
    return first or key


def webhook_receipts_prune(*, now: datetime | None = None) -> int:
    """Forget receipts no signature can be replayed against any more; returns how many.

    A signature is accepted while ``|now - t|`` is within the tolerance, and its receipt was
    written no earlier than ``t - tolerance``: after twice the tolerance (plus a minute for
    clock skew between processes) the receipt can never match an acceptable request."""
    tolerance = int(settings.CONTROLROOM["WEBHOOK_TOLERANCE_SECONDS"])
    horizon = (now or timezone.now()) - timedelta(seconds=2 * tolerance + 60)
    deleted, _ = WebhookReceipt.objects.filter(created_at__lt=horizon).delete()
    return deleted


def _event_key(inbound: Inbound, endpoint: str, body: bytes, signature: signing.Signature) -> str:
    signed = signing.signed_hash(body, signature.timestamp)
    return webhook_receipt_key(endpoint=endpoint, signed=signed, key=_dedupe_key(inbound, signed))


def webhook_run_start(*, flow: Flow, inbound: Inbound) -> tuple[Run, bool]:
    """Verify and accept a webhook for ``flow``: returns ``(run, created)``; a repeated event
    (the same event id, or a replay of the same signed request with any id — see the module
    docstring) returns the original run and creates nothing. Only the live version runs: a
    flow with none is refused (409). The run's first steps are handed to the workers by the
    batched dispatcher (no Celery publish here). Raises ``WebhookError``."""
    try:
        version = live.trigger_version_get(flow=flow)  # never an unpublished draft
    except live.NotLive as exc:
        raise WebhookError(exc.status, exc.code, exc.message) from None
    trigger = version.document.get("trigger") or {}
    if trigger.get("type") != "webhook":
        raise WebhookError(404, "not_found", f"flow {flow.slug!r} has no webhook trigger")
    body, signature = _verified_body(inbound, flow)
    data = _parse(body)
    key = _event_key(inbound, f"flow:{flow.id}", body, signature)
    try:
        # A repeated event finds its original run there (by the key), and creates nothing.
        return runs.run_start(
            flow=flow, input=data, version=version, idempotency_key=key, defer_publish=True
        )
    except runs.RunError as exc:
        raise WebhookError(400, exc.code, exc.message) from None


def webhook_outcome_body(*, inbound: Inbound) -> tuple[dict[str, Any], str]:
    """Verify a webhook for the outcomes endpoint; returns ``(body, event key)`` for
    ``outcomes.outcome_record``, the key deduplicating replays as for flow webhooks (a replay
    with a fresh event id gets the first request's key, so nothing new is recorded). Raises
    ``WebhookError``."""
    body, signature = _verified_body(inbound, None)
    data = _parse(body)
    return data, _event_key(inbound, "outcomes", body, signature)
