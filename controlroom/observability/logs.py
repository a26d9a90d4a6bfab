"""Structured logs: one JSON object per line, with the run and step ids of the code that logged.

Enabled with ``CONTROLROOM_LOG_FORMAT=json`` (``settings.LOGGING`` picks this formatter for the
console handler); the default stays the human-readable line. Keys: ``ts`` (UTC, ISO 8601 with
milliseconds), ``level``, ``logger``, ``message``, ``run_id`` / ``step_id`` / ``node_id`` when
bound (``observability.context``), the OpenTelemetry ``trace_id`` / ``span_id`` when a span is
recording, ``exc`` with the formatted traceback, and any ``extra={...}`` fields the call passed
that are JSON-serialisable (others as their ``repr``).
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

from controlroom.observability import context

#: Attributes every LogRecord has; anything else on a record came from ``extra=``.
_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "taskName"}


def _jsonable(value: Any) -> Any:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return repr(value)
    return value


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        stamp = datetime.fromtimestamp(record.created, tz=UTC)
        entry: dict[str, Any] = {
            "ts": stamp.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **context.current(),
            **_trace_ids(),
        }
        for name, value in record.__dict__.items():
            if name not in _STANDARD and name not in entry:
                entry[name] = _jsonable(value)
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False, default=repr)


def _trace_ids() -> dict[str, str]:
    from opentelemetry import trace

    span = trace.get_current_span().get_span_context()
    if not span.is_valid:
        return {}
    return {"trace_id": f"{span.trace_id:032x}", "span_id": f"{span.span_id:016x}"}
