"""The parts every node config schema shares: retries and a time limit.

A node type's ``schema`` is ``object_schema({...its own properties...}, required=[...])``: a
JSON Schema object that refuses unknown fields and accepts the common ``retry`` and
``timeout_seconds`` beside the node's own.
"""

from __future__ import annotations

from typing import Any

RETRY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "title": "Retries",
    "description": "Try the step again after a failure that may pass (a timeout, a server error).",
    "additionalProperties": False,
    "properties": {
        "max_attempts": {
            "type": "integer",
            "minimum": 1,
            "maximum": 20,
            "title": "Attempts at most",
            "description": "Counting the first one.",
        },
        "backoff_seconds": {
            "type": "number",
            "minimum": 0,
            "maximum": 3600,
            "title": "First wait (seconds)",
            "description": "Before the first retry; it doubles for each retry after (default 2).",
        },
        "max_backoff_seconds": {
            "type": "number",
            "minimum": 0,
            "maximum": 86400,
            "title": "Longest wait (seconds)",
            "description": "The wait between retries never grows past this (default 300).",
        },
    },
}

COMMON_PROPERTIES: dict[str, Any] = {
    "retry": RETRY_SCHEMA,
    "timeout_seconds": {
        "type": "number",
        "exclusiveMinimum": 0,
        "maximum": 3600,
        "title": "Time limit (seconds)",
        "description": "An attempt that takes longer fails (and may be retried).",
    },
}


def object_schema(properties: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    """A node config schema: the node's own properties plus the common ones, nothing else."""
    return {
        "type": "object",
        "additionalProperties": False,
        "properties": {**properties, **COMMON_PROPERTIES},
        "required": required or [],
    }
