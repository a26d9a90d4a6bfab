"""The ``controlroom.flow/v1`` document's JSON Schema: its top-level fields, inline agents,
nodes and edges. A node's ``config`` is checked against its node type's own schema
(``flows.engine.nodes``), a trigger's fields against ``flows.triggers.config``; what a schema
cannot say is checked by ``flows.document``.
"""

from __future__ import annotations

from typing import Any

from flows.triggers.config import TRIGGER_PROPERTIES

SCHEMA_ID = "controlroom.flow/v1"
ID_PATTERN = r"^[A-Za-z][A-Za-z0-9_-]{0,63}$"
SLUG_PATTERN = r"^[a-z0-9][a-z0-9-]{0,79}$"

PROVIDERS = ["scripted", "openai", "anthropic"]
PRICE_SCHEMA: dict[str, Any] = {"type": ["number", "string"]}
SCRIPT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "responses": {"type": "array", "maxItems": 1000},
        "rules": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["when", "response"],
                "additionalProperties": False,
                "properties": {
                    "when": {"type": "string", "format": "condition"},
                    "response": {},
                },
            },
        },
        "latency_ms": {"type": "integer", "minimum": 0, "maximum": 60_000},
    },
}
# A model-routing stage: what it sets overrides the agent's (agents.runtime.agent_stages).
CASCADE_STAGE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["model"],
    "additionalProperties": False,
    "properties": {
        "provider": {"enum": PROVIDERS},
        "model": {"type": "string", "minLength": 1, "maxLength": 120},
        "connection": {"type": "string", "pattern": SLUG_PATTERN},
        "temperature": {"type": "number", "minimum": 0, "maximum": 2},
        "max_tokens": {"type": "integer", "minimum": 1, "maximum": 200_000},
        "json_mode": {"enum": ["auto", "schema", "object", "prompt"]},
        "price_in_per_1k": PRICE_SCHEMA,
        "price_out_per_1k": PRICE_SCHEMA,
        "script": SCRIPT_SCHEMA,
    },
}
AGENT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["slug"],
    "additionalProperties": False,
    "properties": {
        "slug": {"type": "string", "pattern": SLUG_PATTERN},
        "name": {"type": "string", "maxLength": 120},
        "role": {"type": "string", "maxLength": 200},
        "instructions": {"type": "string", "maxLength": 50_000},
        "provider": {"enum": PROVIDERS},
        "model": {"type": "string", "maxLength": 120},
        # A ProviderConnection slug (base URL, key, timeout); without one the SDK's environment.
        "connection": {"type": "string", "pattern": SLUG_PATTERN},
        "temperature": {"type": "number", "minimum": 0, "maximum": 2},
        "max_tokens": {"type": "integer", "minimum": 1, "maximum": 200_000},
        "output": {"enum": ["text", "json"]},
        "output_schema": {"type": "object"},
        "json_mode": {"enum": ["auto", "schema", "object", "prompt"]},
        "tools": {"type": "array", "items": {"type": "string"}, "maxItems": 100},
        "max_turns": {"type": "integer", "minimum": 1, "maximum": 50},
        "price_in_per_1k": PRICE_SCHEMA,
        "price_out_per_1k": PRICE_SCHEMA,
        "memory_scope": {"type": "string", "maxLength": 200},
        "cascade": {"type": "array", "items": CASCADE_STAGE_SCHEMA, "maxItems": 5},
        "confidence": {"type": "string", "format": "condition", "maxLength": 500},
        "min_confidence": {"type": "number"},
        "check": {"type": "string", "format": "condition", "maxLength": 2000},
        "script": SCRIPT_SCHEMA,
    },
}

DOCUMENT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["schema", "slug", "name", "nodes", "edges"],
    "additionalProperties": False,
    "properties": {
        "schema": {"const": SCHEMA_ID},
        "slug": {"type": "string", "pattern": SLUG_PATTERN},
        "name": {"type": "string", "minLength": 1, "maxLength": 200},
        "description": {"type": "string", "maxLength": 5000},
        "subject": {"type": "string", "format": "template", "maxLength": 500},
        "trigger": {
            "type": "object",
            "required": ["type"],
            "properties": {
                "type": {"enum": ["manual", "webhook", "schedule", "form", "event"]},
                "snapshot": {"type": "array", "items": {"type": "string"}, "uniqueItems": True},
                **TRIGGER_PROPERTIES,
            },
        },
        "input_schema": {"type": "object"},
        "sample_input": {"type": "object"},
        "agents": {"type": "array", "items": AGENT_SCHEMA, "maxItems": 200},
        "nodes": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["id", "type"],
                "additionalProperties": False,
                "properties": {
                    "id": {"type": "string", "pattern": ID_PATTERN},
                    "type": {"type": "string"},
                    "name": {"type": "string", "maxLength": 200},
                    "config": {"type": "object"},
                    # Failure paths (flows.engine.scheduler.Advance.fail_step).
                    "on_error": {"enum": ["fail", "continue"], "default": "fail"},
                    "position": {
                        "type": "object",
                        "required": ["x", "y"],
                        "properties": {"x": {"type": "number"}, "y": {"type": "number"}},
                    },
                },
            },
        },
        "edges": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["from", "to"],
                "additionalProperties": False,
                "properties": {
                    "from": {"type": "string"},
                    "to": {"type": "string"},
                    "when": {"type": "string", "format": "condition", "maxLength": 2000},
                    # "error": followed only when "from" fails for good (flows.graph).
                    "on": {"enum": ["success", "error"], "default": "success"},
                    "label": {"type": "string", "maxLength": 200},
                },
            },
        },
        "policies": {"type": "array"},
        "feedback": {"type": "object"},
        "roi": {"type": "object"},
    },
}
