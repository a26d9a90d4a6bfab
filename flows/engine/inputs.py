"""A run's input: checked against its flow's input schema, cut to the trigger's snapshot
fields, and its subject rendered (for ``runs.run_start`` and for child runs, ``waits``)."""

from __future__ import annotations

from typing import Any

import jsonschema

from controlroom import expressions
from flows.models import FlowVersion


class RunError(Exception):
    """A run cannot be started, cancelled or retried as asked (a 4xx for the caller)."""

    def __init__(
        self, message: str, *, code: str = "invalid", details: list[dict[str, str]] | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.details = details or []


def prepare_input(version: FlowVersion, raw: Any) -> tuple[dict[str, Any], str]:
    """Validate ``raw`` against the flow's input schema, keep only the trigger's snapshot
    fields, and render the subject. Returns ``(input, subject)``."""
    document = version.document
    if not isinstance(raw, dict):
        raise RunError("input must be a JSON object")
    schema = document.get("input_schema")
    if schema:
        errors = sorted(
            jsonschema.Draft202012Validator(schema).iter_errors(raw),
            key=lambda error: list(error.absolute_path),
        )
        if errors:
            raise RunError(
                "input does not match the flow's input schema",
                details=[
                    {
                        "pointer": "/input/" + "/".join(str(p) for p in error.absolute_path),
                        "message": error.message,
                    }
                    for error in errors[:20]
                ],
            )
    snapshot = (document.get("trigger") or {}).get("snapshot")
    data = {key: value for key, value in raw.items() if key in snapshot} if snapshot else dict(raw)
    subject = ""
    if document.get("subject"):
        try:
            subject = str(expressions.render(document["subject"], {"input": data}) or "")[:300]
        except expressions.ExpressionError as exc:
            raise RunError(f"subject template failed: {exc}") from exc
    return data, subject
