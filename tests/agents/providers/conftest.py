"""Fixtures for provider tests: fake OpenAI/Anthropic servers on loopback (opened through
``CONTROLROOM_EGRESS_ALLOW``, as an operator opens a local model server) and a way to call an
agent the way an agent step does."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from pytest_django.fixtures import Settings

from agents import runtime
from agents.models import ProviderConnection
from tests.support.fake_llm import FakeLLM
from tests.support.loopback_http import egress_configure


@pytest.fixture(autouse=True)
def loopback_models_allowed(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """The fake model servers listen on 127.0.0.1: open it the way a deployment opens a local
    model server (provider calls follow the egress rules)."""
    egress_configure(settings, monkeypatch, "127.0.0.1")


@pytest.fixture
def openai_server() -> Iterator[FakeLLM]:
    with FakeLLM("openai") as server:
        yield server


@pytest.fixture
def anthropic_server() -> Iterator[FakeLLM]:
    with FakeLLM("anthropic") as server:
        yield server


def connection_for(server: FakeLLM, *, timeout: float = 5.0, **fields: Any) -> ProviderConnection:
    """A connection to ``server`` (no key unless ``api_key`` is given)."""
    return ProviderConnection.objects.create(
        slug=f"fake-{server.protocol}", kind=server.protocol, base_url=server.url,
        timeout_seconds=timeout, **fields,
    )  # fmt: skip


def step_ref() -> runtime.StepRef:
    run_id = str(uuid.uuid4())
    return runtime.StepRef(run_id=run_id, step_id=1, attempt=1, key=f"{run_id}:agent:")


@pytest.fixture
def invoke() -> Callable[..., runtime.AgentAnswer]:
    """``invoke(spec, prompt="...", step=None)``: run the agent as an agent step would."""

    def call(
        spec: dict[str, Any], prompt: str = "Hello", step: runtime.StepRef | None = None
    ) -> runtime.AgentAnswer:
        return runtime.agent_invoke(
            spec={"slug": "tester", **spec},
            prompt=prompt,
            variables={"input": {}},
            call_number=0,
            step=step or step_ref(),
        )

    return call
