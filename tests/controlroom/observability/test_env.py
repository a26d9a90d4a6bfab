"""Observability settings from the environment: defaults, precedence, and loud bad values."""

from __future__ import annotations

import pytest

from controlroom import env

NAMES = [
    "CONTROLROOM_STUCK_AFTER",
    "CONTROLROOM_METRICS_TOKEN",
    "CONTROLROOM_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "CONTROLROOM_LOG_FORMAT",
]


@pytest.fixture(autouse=True)
def _clean(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in NAMES:
        monkeypatch.delenv(name, raising=False)


def test_defaults_are_off_and_human_readable() -> None:
    obs = env.load().observability
    assert obs.stuck_after_seconds == 300.0
    assert obs.metrics_token == "" and obs.otlp_endpoint == "" and obs.log_format == "text"


def test_the_controlroom_endpoint_wins_over_the_standard_otel_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/")
    assert env.load().observability.otlp_endpoint == "http://collector:4318"
    monkeypatch.setenv("CONTROLROOM_OTLP_ENDPOINT", "https://other:4318")
    assert env.load().observability.otlp_endpoint == "https://other:4318"


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("CONTROLROOM_LOG_FORMAT", "xml", "text or json"),
        ("CONTROLROOM_STUCK_AFTER", "0", "above zero"),
        ("CONTROLROOM_STUCK_AFTER", "soon", "must be a number"),
        ("CONTROLROOM_METRICS_TOKEN", "short", "at least 16"),
        ("CONTROLROOM_OTLP_ENDPOINT", "collector:4318", "http"),
    ],
)
def test_bad_values_fail_loudly(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, message: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(env.EnvError, match=message):
        env.load()
