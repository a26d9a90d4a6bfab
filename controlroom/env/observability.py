"""The observability block: the home page's stuck-run alarm, /metrics, traces, logs.

Owns ``ObservabilityEnv`` and the reading of ``CONTROLROOM_STUCK_AFTER``,
``CONTROLROOM_METRICS_TOKEN``, ``CONTROLROOM_OTLP_ENDPOINT`` (or
``OTEL_EXPORTER_OTLP_ENDPOINT``), ``OTEL_SERVICE_NAME`` and ``CONTROLROOM_LOG_FORMAT``.
"""

from __future__ import annotations

from dataclasses import dataclass

from controlroom.env.readers import EnvError, _http_url, _positive, _str


@dataclass(frozen=True)
class ObservabilityEnv:
    """``stuck_after_seconds``: a live run with no recorded progress for this long raises the
    home page's alarm. ``metrics_token``: bearer token that opens ``/metrics`` to non-loopback
    scrapers (empty: loopback only). ``otlp_endpoint``: OTLP/HTTP base URL traces go to (empty:
    tracing off). ``log_format``: ``text`` (default) or ``json`` (one object per line)."""

    stuck_after_seconds: float = 300.0
    metrics_token: str = ""
    otlp_endpoint: str = ""
    service_name: str = "controlroom"
    log_format: str = "text"


def _observability() -> ObservabilityEnv:
    log_format = (_str("CONTROLROOM_LOG_FORMAT", "text") or "text").strip().lower()
    if log_format not in {"text", "json"}:
        raise EnvError(f"CONTROLROOM_LOG_FORMAT must be text or json, got {log_format!r}")
    token = (_str("CONTROLROOM_METRICS_TOKEN", "") or "").strip()
    if token and len(token) < 16:
        raise EnvError("CONTROLROOM_METRICS_TOKEN must be at least 16 characters")
    endpoint_name = (
        "CONTROLROOM_OTLP_ENDPOINT"
        if _str("CONTROLROOM_OTLP_ENDPOINT")
        else "OTEL_EXPORTER_OTLP_ENDPOINT"
    )
    return ObservabilityEnv(
        stuck_after_seconds=_positive("CONTROLROOM_STUCK_AFTER", 300.0),
        metrics_token=token,
        otlp_endpoint=_http_url(endpoint_name).rstrip("/"),
        service_name=_str("OTEL_SERVICE_NAME", "controlroom") or "controlroom",
        log_format=log_format,
    )
