"""Built-in tools: thin wrappers that validate nothing themselves (the registry checks the
arguments against the schema and the tool's ``check_args``) and call one domain function each.

Categories, which policies key on: ``send_email`` outbound_message, ``upsert_record`` write,
``knowledge_search`` read, ``propose_slots`` read, ``check_patch`` read. Side effects go through
the effect ledger.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from django.utils import timezone

from agents import knowledge, outbox, patches, records, scheduling
from agents.ledger import effect_once
from agents.models import Effect
from agents.tools.base import Tool, ToolCall, ToolError


def _send_email_check(args: dict[str, Any]) -> None:
    """``to`` is exactly one plain address (``outbox.recipient_parse``): a list, a display
    name or a CR/LF header break is refused before any approval or send."""
    try:
        outbox.recipient_parse(to=args["to"])
    except outbox.AddressError as exc:
        raise ToolError(f"tool 'send_email' argument to: {exc}") from None


def _send_email(call: ToolCall) -> dict[str, Any]:
    def act(effect: Effect) -> dict[str, Any]:
        message = outbox.outbox_enqueue(
            effect=effect,
            to=call.args["to"],
            subject=call.args.get("subject", ""),
            body=call.args["body"],
            run_id=call.run_id or None,
            step_id=call.step_id,
        )
        return {"message_id": message.id, "to": message.to, "status": "queued"}

    result, replayed = effect_once(
        key=call.idempotency_key,
        tool="send_email",
        category="outbound_message",
        subject=call.subject,
        args=call.args,
        act=act,
    )
    return {**result, "replayed": replayed}


SEND_EMAIL = Tool(
    name="send_email",
    category="outbound_message",
    description="Send an e-mail through the configured e-mail backend; kept in the outbox.",
    args_schema={
        "type": "object",
        "additionalProperties": False,
        "required": ["to", "body"],
        "properties": {
            "to": {
                "type": "string",
                "format": "email",
                "maxLength": 300,
                "description": "One e-mail address.",
            },
            "subject": {"type": "string", "maxLength": 300},
            "body": {
                "type": "string",
                "minLength": 1,
                "maxLength": 100_000,
                "description": "The message, as plain text.",
            },
        },
    },
    call=_send_email,
    check_args=_send_email_check,
)


def _upsert_record(call: ToolCall) -> dict[str, Any]:
    def act(_effect: Effect) -> dict[str, Any]:
        record, created = records.record_upsert(
            kind=call.args["kind"], key=call.args["key"], data=call.args.get("data") or {}
        )
        return {"kind": record.kind, "key": record.key, "data": record.data, "created": created}

    try:
        result, replayed = effect_once(
            key=call.idempotency_key,
            tool="upsert_record",
            category="write",
            subject=call.subject,
            args=call.args,
            act=act,
        )
    except records.RecordError as exc:
        raise ToolError(f"upsert_record: {exc}") from None
    return {**result, "replayed": replayed}


UPSERT_RECORD = Tool(
    name="upsert_record",
    category="write",
    description=(
        "Create a record (contact, account, ticket...) or merge fields into it; "
        "a field set to null is removed."
    ),
    args_schema={
        "type": "object",
        "additionalProperties": False,
        "required": ["kind", "key"],
        "properties": {
            "kind": {
                "type": "string",
                "pattern": "^[a-z0-9][a-z0-9_-]{0,39}$",
                "description": "What sort of record: contact, account, ticket...",
            },
            "key": {
                "type": "string",
                "minLength": 1,
                "maxLength": records.MAX_KEY_CHARS,
                "description": "What identifies it within its kind, e.g. an e-mail address.",
            },
            "data": {
                "type": "object",
                "maxProperties": 200,
                "description": "Fields to merge in; a field set to null is removed.",
            },
        },
    },
    call=_upsert_record,
)


def _knowledge_search(call: ToolCall) -> dict[str, Any]:
    try:
        hits = knowledge.knowledge_search(
            query=call.args["query"],
            base=call.args.get("base") or None,
            limit=int(call.args.get("limit", 5)),
        )
    except knowledge.KnowledgeError as exc:
        raise ToolError(f"knowledge_search: {exc}") from None
    return {"results": [asdict(hit) for hit in hits], "count": len(hits)}


KNOWLEDGE_SEARCH = Tool(
    name="knowledge_search",
    category="read",
    description=(
        "Search the knowledge base (full text; quotes for phrases, 'or', '-word' to exclude). "
        "Returns titles, excerpts with matches in **bold**, and ranks, best first."
    ),
    args_schema={
        "type": "object",
        "additionalProperties": False,
        "required": ["query"],
        "properties": {
            "query": {"type": "string", "minLength": 1, "maxLength": 500},
            "base": {
                "type": "string",
                "pattern": "^[-a-zA-Z0-9_]{1,80}$",
                "description": "A knowledge base's slug; empty searches them all.",
            },
            "limit": {
                "type": "integer",
                "minimum": 1,
                "maximum": knowledge.MAX_LIMIT,
                "description": "Results at most (default 5).",
            },
        },
    },
    call=_knowledge_search,
    side_effect=False,
)


def _propose_slots(call: ToolCall) -> dict[str, Any]:
    hours = scheduling.working_hours()
    after = _aware(call.args["after"], hours.time_zone) if call.args.get("after") else None
    try:
        slots = scheduling.slots_propose(
            now=timezone.now(),
            count=int(call.args.get("count", 3)),
            duration_minutes=call.args.get("duration_minutes"),
            after=after,
            hours=hours,
        )
    except scheduling.SchedulingError as exc:
        raise ToolError(f"propose_slots: {exc}") from None
    return {
        "time_zone": hours.time_zone,
        "slots": [{"start": s.start.isoformat(), "end": s.end.isoformat()} for s in slots],
    }


def _aware(text: str, zone: str) -> datetime:
    """An ISO date or date-time; without an offset it is read in the working hours' zone."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise ToolError(f"propose_slots: 'after' is not an ISO date-time: {text!r}") from None
    return value if value.tzinfo else value.replace(tzinfo=ZoneInfo(zone))


PROPOSE_SLOTS = Tool(
    name="propose_slots",
    category="read",
    description=(
        "Propose meeting slots inside the configured working hours, as ISO date-times in the "
        "working hours' time zone."
    ),
    args_schema={
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "count": {
                "type": "integer",
                "minimum": 1,
                "maximum": scheduling.MAX_COUNT,
                "description": "How many slots (default 3).",
            },
            "duration_minutes": {"type": "integer", "minimum": 5, "maximum": 24 * 60},
            "after": {
                "type": "string",
                "minLength": 10,
                "maxLength": 40,
                "description": "An ISO date or date-time; slots start after it.",
            },
        },
    },
    call=_propose_slots,
    side_effect=False,
)


def _check_patch(call: ToolCall) -> dict[str, Any]:
    return patches.patch_check(diff=call.args["diff"]).as_dict()


CHECK_PATCH = Tool(
    name="check_patch",
    category="read",
    description=(
        "Check a unified diff without applying it: files changed, lines added and removed, and "
        "problems (malformed diff, conflict markers, trailing whitespace, a line that looks "
        "like a secret, added Python that does not compile); ok is true when there are none."
    ),
    args_schema={
        "type": "object",
        "additionalProperties": False,
        "required": ["diff"],
        "properties": {
            "diff": {"type": "string", "minLength": 1, "maxLength": patches.MAX_DIFF_CHARS},
        },
    },
    call=_check_patch,
    side_effect=False,
)

TOOLS = [SEND_EMAIL, UPSERT_RECORD, KNOWLEDGE_SEARCH, PROPOSE_SLOTS, CHECK_PATCH]
