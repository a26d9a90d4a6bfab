"""A secret value used by a step never comes back out: not in the step's stored error (or its
history, or the run's error) after a provider echoes it, not in a crash's traceback or log
line, not in the API's view of the run or its flow's export."""

from __future__ import annotations

import io
import logging
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client

from agents import providers
from agents.providers.base import ModelRequest, ModelResponse, ProviderError
from agents.redaction import REDACTED, RedactingFilter
from agents.secrets import secret_reveal, secret_set
from controlroom.accounts import token_issue, user_ensure
from controlroom.roles import Role
from flows.engine import runner, runs
from flows.models import Run, RunEvent, Step
from tests.support.flows import document, drive, node, save, scripted

pytestmark = pytest.mark.django_db


class _EchoingProvider:
    """Stands in for a model API that quotes the key it was given back in its error, as
    OpenAI's 401 ("Incorrect API key provided: sk-…") does."""

    name = "scripted"
    offline = True

    def __init__(self, failure: type[Exception]) -> None:
        self.failure = failure

    def complete(self, request: ModelRequest) -> ModelResponse:
        key = secret_reveal("model-key")
        raise self.failure(
            f"Error code: 401 - Incorrect API key provided: {key}. "
            f"Request headers: {{'Authorization': 'Bearer {key}'}}"
        )


@pytest.fixture
def key() -> str:
    value = f"mk-{uuid.uuid4().hex}{uuid.uuid4().hex}"
    secret_set(name="model-key", value=value, description="the model provider's key")
    return value


@pytest.fixture
def console() -> Iterator[io.StringIO]:
    handlers = [
        handler
        for handler in logging.getLogger().handlers
        if any(isinstance(f, RedactingFilter) for f in handler.filters)
    ]
    stream = io.StringIO()
    previous = [handler.setStream(stream) for handler in handlers]  # type: ignore[attr-defined]
    yield stream
    for handler, old in zip(handlers, previous, strict=True):
        handler.setStream(old)  # type: ignore[attr-defined]


def _failing_run(monkeypatch: pytest.MonkeyPatch, failure: type[Exception]) -> Run:
    monkeypatch.setitem(providers.PROVIDERS, "scripted", _EchoingProvider(failure))
    flow = save(
        document(
            "leaky",
            [node("ask", "agent", agent="helper", prompt="hello")],
            [],
            agents=[scripted("helper", "never used")],
        )
    )
    run, _ = runs.run_start(flow=flow, input={"question": "hello"})
    return drive(run)


def _everything_stored(run: Run) -> str:
    steps = list(Step.objects.filter(run=run).values())
    events = list(RunEvent.objects.filter(run=run).values())
    return repr((Run.objects.filter(id=run.id).values().get(), steps, events))


def test_a_provider_error_echoing_the_key_is_stored_redacted(
    monkeypatch: pytest.MonkeyPatch, key: str
):
    run = _failing_run(monkeypatch, ProviderError)
    assert run.status == "failed"
    step = Step.objects.get(run=run)
    assert step.error_class == "domain"
    assert f"Incorrect API key provided: {REDACTED}" in step.error
    assert key not in _everything_stored(run)
    assert key[:24] not in _everything_stored(run)


def test_a_crash_whose_traceback_holds_the_key_is_stored_and_logged_redacted(
    monkeypatch: pytest.MonkeyPatch, key: str, console: io.StringIO
):
    run = _failing_run(monkeypatch, RuntimeError)
    step = Step.objects.get(run=run)
    assert step.error_class == "crash"
    assert "Traceback" in step.error and REDACTED in step.error
    assert key not in _everything_stored(run)
    logged = console.getvalue()
    assert "crashed" in logged and "RuntimeError" in logged
    assert key not in logged


def test_an_error_kept_from_a_lost_attempt_is_redacted_when_the_step_gives_up(key: str):
    flow = save(document("lost", [node("a", "agent", agent="w")], [], agents=[scripted("w", "x")]))
    run, _ = runs.run_start(flow=flow, input={})
    Step.objects.filter(run=run).update(
        attempt=3, max_attempts=3, error=f"worker lost while sending {key}"
    )
    step = Step.objects.get(run=run)
    assert runner.step_claim(step_id=step.id) is None
    step.refresh_from_db()
    run.refresh_from_db()
    assert step.status == "failed" and run.status == "failed"
    assert key not in step.error and key not in run.error
    assert REDACTED in run.error


def test_the_api_shows_neither_the_run_nor_the_flow_export_with_the_key(
    monkeypatch: pytest.MonkeyPatch, key: str
):
    run = _failing_run(monkeypatch, ProviderError)
    client = Client(
        HTTP_AUTHORIZATION="Bearer "
        + token_issue(user=user_ensure(username="viewer", role=Role.VIEWER))
    )
    responses: list[Any] = [
        client.get(f"/api/runs/{run.id}"),
        client.get("/api/runs"),
        client.get("/api/flows/leaky/export"),
        client.get("/api/flows/leaky/export?format=yaml"),
        client.get("/api/flows/leaky"),
    ]
    for response in responses:
        assert response.status_code == 200, response.content[:300]
        assert key.encode() not in response.content
    assert REDACTED in responses[0].json()["steps"][0]["error"]
