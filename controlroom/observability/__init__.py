"""Observability: what operators and their tools see of the engine from outside.

- ``context``: the run and step ids of the code running now (contextvars the runner sets);
- ``logs``: ``JsonFormatter``, one JSON object per log line carrying those ids
  (``CONTROLROOM_LOG_FORMAT=json``);
- ``tracing``: OpenTelemetry traces — a run is a trace, a step a span, a model call a child
  span with the GenAI semantic-convention attributes — exported over OTLP/HTTP when
  ``CONTROLROOM_OTLP_ENDPOINT`` (or ``OTEL_EXPORTER_OTLP_ENDPOINT``) is set, off otherwise;
- ``metrics``: the numbers behind ``/metrics`` (Prometheus text) and ``/api/metrics`` (JSON),
  computed from PostgreSQL and Redis at scrape time by sources the apps register.

This package imports no app: apps call into it and register their metric sources.
"""
