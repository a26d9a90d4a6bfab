"""Inbound webhooks: a per-flow endpoint that starts runs, and one that records outcomes.

Checks run cheapest first and all before the body is parsed: content type, declared size,
signature header and its age, then the body is read (capped) and its HMAC verified against
every secret the endpoint currently accepts. Only a verified body is decoded and parsed; only
then is anything written. The sender's event id (``X-Event-Id`` or ``Idempotency-Key``)
deduplicates; without one, the signature itself does (a replay of the same request).
"""

from __future__ import annotations

import json
import secrets as pysecrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from agents import secrets
from agents.audit import audit_record
from controlroom import jsondata
from flows.engine import claims, runs
from flows.graph import row_key
from flows.models import Flow, FlowVersion, Run, WebhookSecret
from flows.triggers import signing

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
        data = json.loads(text, parse_constant=jsondata.reject_constant)
    except (ValueError, RecursionError):
        raise WebhookError(400, "invalid_body", "the body is not valid JSON") from None
    if not isinstance(data, dict):
        raise WebhookError(400, "invalid_body", "the body must be a JSON object")
    problem = jsondata.first_problem(data, max_values=len(body) + 1, max_depth=MAX_DEPTH)
    if problem is not None:
        raise WebhookError(400, "invalid_body", problem[1])
    return data


def _dedupe_key(inbound: Inbound, signature: signing.Signature) -> str:
    event_id = inbound.headers.get("X-Event-Id") or inbound.headers.get("Idempotency-Key")
    if event_id is not None:
        if not (0 < len(event_id) <= MAX_EVENT_ID):
            raise WebhookError(400, "invalid", f"the event id must be 1 to {MAX_EVENT_ID} chars")
        return f"hook:{event_id}"
    # No event id: the same signed request replayed is the same event.
    return f"hook-sig:{signature.timestamp}:{signature.digests[0]}"


def webhook_run_start(*, flow: Flow, inbound: Inbound) -> tuple[Run, bool]:
    """Verify and accept a webhook for ``flow``: returns ``(run, created)``; a repeated event
    returns the original run and creates nothing. The run's first steps are handed to the
    workers by the batched dispatcher (no Celery publish here). Raises ``WebhookError``."""
    version: FlowVersion | None
    if flow.live_version_id is not None:
        version = claims.version_get(flow.live_version_id)  # immutable: cached per process
    else:
        version = flow.versions.order_by("-number").first()
    trigger = (version.document.get("trigger") or {}) if version else {}
    if trigger.get("type") != "webhook":
        raise WebhookError(404, "not_found", f"flow {flow.slug!r} has no webhook trigger")
    body, signature = _verified_body(inbound, flow)
    key = _dedupe_key(inbound, signature)
    data = _parse(body)
    try:
        # A repeated event finds its original run there (by the key), and creates nothing.
        return runs.run_start(
            flow=flow, input=data, version=version, idempotency_key=key, defer_publish=True
        )
    except runs.RunError as exc:
        raise WebhookError(400, exc.code, exc.message) from None


def webhook_outcome_body(*, inbound: Inbound) -> tuple[dict[str, Any], str]:
    """Verify a webhook for the outcomes endpoint; returns ``(body, event key)`` for
    ``outcomes.outcome_record``. Raises ``WebhookError``."""
    body, signature = _verified_body(inbound, None)
    return _parse(body), _dedupe_key(inbound, signature)
