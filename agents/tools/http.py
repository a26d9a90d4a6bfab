"""``http``: one HTTP request, through ``agents.egress`` (SSRF checks, size and time limits).

Category: ``read`` for GET/HEAD, ``write`` otherwise. The arguments may name another category
(``outbound_message`` for a webhook that posts to a chat, ``payment``…), but never ``read``
for a side-effecting method: arguments may come from a model, and a model must not be able to
make a write look like a read to the policies.

Side-effecting methods (POST, PUT, PATCH, DELETE) send ``Idempotency-Key: <call key>`` and go
through the effect ledger, so a retried step gets the stored response instead of calling
again. A call that fails (timeout, 5xx, 4xx) records nothing, so its retry calls again with
the same key, for the receiver to deduplicate.

Credentials: ``auth: {"secret": name, "header": "Authorization", "scheme": "Bearer"}`` is
resolved with ``secret_reveal_to`` at the moment of the request, and only if the secret allows
the URL's host (one of its ``allowed_hosts``, set by an admin): otherwise the call fails with a
``ToolError`` naming the secret and the host, before anything is sent. The header never follows
a redirect to another origin. The value never enters the arguments, the ledger, the output or
an error message (all pass through ``redact``, which also knows its base64, hex and URL
encodings, so a server echoing the header encoded does not get it stored either).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from django.core.exceptions import ImproperlyConfigured

from agents.egress import (
    EgressError,
    EgressResponse,
    EgressTransient,
    egress_request,
)
from agents.ledger import effect_once
from agents.redaction import REDACTED, redact, redact_mapping
from agents.tools.base import Tool, ToolCall, ToolError, ToolTransientError
from controlroom import jsondata

SAFE_METHODS = ("GET", "HEAD")
METHODS = (*SAFE_METHODS, "POST", "PUT", "PATCH", "DELETE")
# Framing and routing are ours to set; ``Idempotency-Key`` is the call's, not the caller's.
RESERVED_HEADERS = frozenset(
    {"host", "content-length", "transfer-encoding", "connection", "upgrade", "te", "trailer"}
    | {"idempotency-key", "proxy-authorization"}
)
SENSITIVE_HEADERS = frozenset({"authorization", "cookie", "x-api-key", "api-key", "x-auth-token"})
RETRYABLE_STATUSES = frozenset({408, 425, 429})
EXCERPT_CHARS = 200

_HEADER_NAME = "^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,100}$"
_SCALAR = {"type": ["string", "number", "boolean"]}

ARGS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["url"],
    "properties": {
        "method": {"enum": list(METHODS), "default": "GET"},
        "url": {"type": "string", "minLength": 1, "maxLength": 8000},
        "headers": {
            "type": "object",
            "propertyNames": {"pattern": _HEADER_NAME},
            "additionalProperties": {"type": "string", "maxLength": 8000},
            "maxProperties": 50,
        },
        "query": {"type": "object", "additionalProperties": _SCALAR, "maxProperties": 100},
        "json": {},
        "body": {"type": "string", "maxLength": 1_000_000},
        "auth": {
            "type": "object",
            "additionalProperties": False,
            "required": ["secret"],
            "properties": {
                "secret": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,100}$"},
                "header": {"type": "string", "pattern": _HEADER_NAME, "default": "Authorization"},
                "scheme": {"type": "string", "maxLength": 40, "default": "Bearer"},
            },
        },
        "category": {"type": "string", "pattern": "^[a-z][a-z_]{1,39}$"},
    },
    "allOf": [
        {"not": {"required": ["json", "body"]}},
        {
            "if": {
                "required": ["method"],
                "properties": {"method": {"enum": ["POST", "PUT", "PATCH", "DELETE"]}},
            },
            "then": {"properties": {"category": {"not": {"const": "read"}}}},
        },
    ],
}


def http_category(args: dict[str, Any]) -> str:
    """The policy category of an ``http`` call: declared, else by method."""
    declared = args.get("category")
    if isinstance(declared, str) and declared:
        return declared
    return "read" if _method(args) in SAFE_METHODS else "write"


def _method(args: dict[str, Any]) -> str:
    return str(args.get("method") or "GET").upper()


def _http(call: ToolCall) -> dict[str, Any]:
    args = call.args
    _check_headers(args.get("headers") or {})
    if _method(args) in SAFE_METHODS:
        return {**http_perform(args, idempotency_key=None), "replayed": False}
    result, replayed = effect_once(
        key=call.idempotency_key,
        tool="http",
        category=http_category(args),
        subject=call.subject,
        args=stored_args(args),
        act=lambda _effect: http_perform(args, idempotency_key=call.idempotency_key),
    )
    return {**result, "replayed": replayed}


def _check_headers(headers: dict[str, str]) -> None:
    reserved = sorted(name for name in headers if name.lower() in RESERVED_HEADERS)
    if reserved:
        raise ToolError(f"http: header {reserved[0]!r} is set by the tool, not by arguments")


def stored_args(args: dict[str, Any]) -> dict[str, Any]:
    """``args`` as the ledger keeps them: credential-bearing header values blanked, redacted."""
    headers = {
        name: REDACTED if name.lower() in SENSITIVE_HEADERS else value
        for name, value in (args.get("headers") or {}).items()
    }
    stored = {**args, "headers": headers} if "headers" in args else dict(args)
    return redact_mapping(stored)


def http_perform(args: dict[str, Any], *, idempotency_key: str | None) -> dict[str, Any]:
    """Make the request and shape the answer. Raises ``ToolTransientError`` for timeouts,
    dropped connections, 408/425/429 and 5xx (with ``retry_after`` from ``Retry-After``),
    ``ToolError`` for refusals and other 4xx. Output and errors are redacted."""
    headers = {str(name): str(value) for name, value in (args.get("headers") or {}).items()}
    credential = _auth_header(args.get("auth"), url=str(args["url"]))
    headers.update(credential)
    content: bytes | None = None
    if "json" in args:
        content = json.dumps(args["json"], ensure_ascii=False).encode("utf-8")
        headers.setdefault("Content-Type", "application/json")
    elif "body" in args:
        content = str(args["body"]).encode("utf-8")
    if idempotency_key:
        headers["Idempotency-Key"] = idempotency_key
    headers.setdefault("Accept-Encoding", "identity")
    try:
        response = egress_request(
            method=_method(args),
            url=str(args["url"]),
            headers=headers,
            content=content,
            params=args.get("query") or None,
            credential_headers=tuple(credential),
        )
    except EgressTransient as exc:
        raise ToolTransientError(redact(f"http: {exc}")) from None
    except EgressError as exc:
        raise ToolError(redact(f"http: {exc}")) from None
    _raise_for_status(response)
    return redact_mapping(_shape(response))


def _auth_header(auth: dict[str, Any] | None, *, url: str) -> dict[str, str]:
    if not auth:
        return {}
    from agents.secrets import SecretMissing, SecretNotAllowed, SecretUnreadable, secret_reveal_to

    name = str(auth["secret"])
    try:
        value = secret_reveal_to(name=name, url=url)
    except SecretNotAllowed as exc:
        raise ToolError(f"http: {exc}") from None
    except (SecretMissing, SecretUnreadable, ImproperlyConfigured) as exc:
        raise ToolError(f"http: credential {name!r} cannot be used: {exc}") from None
    scheme = str(auth.get("scheme", "Bearer"))
    return {str(auth.get("header") or "Authorization"): f"{scheme} {value}" if scheme else value}


def _raise_for_status(response: EgressResponse) -> None:
    status = response.status
    where = response.url.partition("?")[0]
    if status >= 500 or status in RETRYABLE_STATUSES:
        raise ToolTransientError(
            redact(f"http: {where} answered {status}"),
            retry_after=retry_after_seconds(response.headers.get("retry-after")),
        )
    if status >= 400:
        excerpt = " ".join(response.text.split())[:EXCERPT_CHARS]
        raise ToolError(redact(f"http: {where} answered {status}: {excerpt}"))


def retry_after_seconds(value: str | None, *, now: datetime | None = None) -> float | None:
    """``Retry-After`` as seconds from now (delta-seconds or an HTTP date), else ``None``."""
    if not value:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def _shape(response: EgressResponse) -> dict[str, Any]:
    headers = {name: value for name, value in response.headers.items() if name != "set-cookie"}
    shaped: dict[str, Any] = {"status": response.status, "url": response.url, "headers": headers}
    if "json" in headers.get("content-type", "") and response.content:
        try:
            shaped["json"] = jsondata.json_parse(response.content)
            return shaped
        except ValueError:
            pass
    shaped["text"] = response.text
    return shaped


HTTP = Tool(
    name="http",
    category="read",
    description=(
        "Make an HTTP request to a public URL (private, loopback and metadata addresses are "
        "refused). GET/HEAD read; POST/PUT/PATCH/DELETE write and send an Idempotency-Key."
    ),
    args_schema=ARGS_SCHEMA,
    call=_http,
    categorize=http_category,
)

TOOLS = [HTTP]
