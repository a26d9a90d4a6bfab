"""A model cascade through the engine when a provider fails: the failing stage hands over to
the next one, only the last stage's failure fails the step, and every stage is billed to the
model it called (the step's routing, ROI by model, Prometheus).

The models are a real OpenAI-protocol server on loopback (``tests.support.fake_llm``) driven by
the official SDK, and the scripted provider; steps run with ``drive`` (the runner code the
Celery task calls), as the other agent-step tests do.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families
from pytest_django.fixtures import Settings

from agents.models import ProviderConnection
from controlroom.accounts import user_ensure
from controlroom.roles import Role
from flows.engine import runs
from flows.models import Run, Step
from flows.roi.selectors import flow_dashboard
from tests.support.fake_llm import FakeLLM, openai_error, openai_text
from tests.support.flows import document, drive, node, save
from tests.support.loopback_http import egress_configure

pytestmark = pytest.mark.django_db

SCHEMA = {"type": "object", "required": ["reply"], "properties": {"reply": {"type": "string"}}}


@pytest.fixture
def llm(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeLLM]:
    with FakeLLM("openai") as server:
        egress_configure(settings, monkeypatch, "127.0.0.1")
        ProviderConnection.objects.create(
            slug="fake-openai", kind="openai", base_url=server.url, timeout_seconds=5
        )
        yield server


def cascading_agent(*stages: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "slug": "answerer",
        "provider": "openai",
        "model": "gpt-small",
        "connection": "fake-openai",
        "price_in_per_1k": "1",
        "price_out_per_1k": "2",
        "output": "json",
        "output_schema": SCHEMA,
        "cascade": list(stages),
        **extra,
    }


SCRIPTED_BACKUP = {
    "provider": "scripted",
    "model": "scripted-backup",
    "price_in_per_1k": "0.5",
    "price_out_per_1k": "0.5",
    "script": {"responses": [{"reply": "from the backup"}]},
}
GPT_LARGE = {"model": "gpt-large", "price_in_per_1k": "10", "price_out_per_1k": "20"}


def start(agent: dict[str, Any], **config: Any) -> Run:
    doc = document(
        "cascade-fallback",
        [node("answer", "agent", agent="answerer", prompt="hello", **config)],
        [],
        agents=[agent],
    )
    run, _ = runs.run_start(flow=save(doc), input={})
    return run


def _samples() -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = Client().get("/metrics")
    assert response.status_code == 200, response.content
    found = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def test_a_500_hands_over_to_the_next_stage_and_every_stage_is_billed_to_its_model(llm):
    """gpt-small answers off-schema (escalates, 1000/100 tokens), gpt-large answers HTTP 500
    (fails, nothing used), the scripted backup answers: the step succeeds on its first attempt
    and gpt-small and the backup are each billed what they used, on the step page, in ROI by
    model and in Prometheus."""
    llm.push(
        openai_text('{"reply": 42}', model="gpt-small", tokens_in=1000, tokens_out=100),
        openai_error(500, "the large model is down"),
    )
    run = drive(start(cascading_agent(GPT_LARGE, SCRIPTED_BACKUP)))

    assert run.status == "succeeded", run.error
    step = Step.objects.get(run=run)
    assert (step.output, step.attempt, step.model) == (
        {"reply": "from the backup"},
        1,
        "scripted-backup",
    )
    assert [request.body["model"] for request in llm.requests] == ["gpt-small", "gpt-large"]
    routing = step.input["routing"]
    assert [(s["model"], s["outcome"]) for s in routing] == [
        ("gpt-small", "escalated"),
        ("gpt-large", "failed"),
        ("scripted-backup", "answered"),
    ]
    small, large, backup = routing
    assert (small["tokens_in"], small["tokens_out"], small["cost"]) == (1000, 100, "1.200000")
    assert (large["tokens_in"], large["tokens_out"], large["cost"]) == (0, 0, "0.000000")
    assert large["error_class"] == "transient"
    assert "HTTP 500" in large["reason"] and "the large model is down" in large["reason"]
    assert backup["tokens_in"] > 0 and backup["tokens_out"] > 0
    backup_cost = (Decimal("0.5") * (backup["tokens_in"] + backup["tokens_out"]) / 1000).quantize(
        Decimal("0.000001")
    )
    assert Decimal(backup["cost"]) == backup_cost
    assert step.tokens_in == 1000 + backup["tokens_in"]
    assert step.tokens_out == 100 + backup["tokens_out"]
    assert step.cost == run.cost == Decimal("1.2") + backup_cost

    # The step page: one row per stage with its own model, tokens and cost.
    viewer = user_ensure(username="viewer-cascade", role=Role.VIEWER)
    client = Client()
    client.force_login(viewer)
    page = client.get(f"/runs/{run.id}/steps/{step.id}/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Model calls" in html
    for text in ("openai · gpt-small", "openai · gpt-large", "scripted · scripted-backup"):
        assert text in html
    assert "$1.20" in html

    # ROI by model: each model its own row; gpt-large used nothing and is billed nothing.
    today = timezone.now().date()
    board = flow_dashboard(flow=run.flow, since=today, until=today)
    by_model = {
        row.label: (row["calls"], row["tokens_in"], row["tokens_out"], row["cost"])
        for row in board.models
    }
    assert by_model == {
        "gpt-small": (1, 1000, 100, Decimal("1.2")),
        "scripted-backup": (1, backup["tokens_in"], backup["tokens_out"], backup_cost),
    }
    assert [(row.label, row["cost"]) for row in board.agents] == [("answerer", step.cost)]

    # Prometheus: labelled by the model actually called.
    samples = _samples()
    assert (
        samples[
            ("controlroom_model_tokens_total", (("direction", "input"), ("model", "gpt-small")))
        ]
        == 1000
    )
    assert (
        samples[
            ("controlroom_model_tokens_total", (("direction", "output"), ("model", "gpt-small")))
        ]
        == 100
    )
    assert samples[("controlroom_model_cost_total", (("model", "gpt-small"),))] == 1.2
    key = ("controlroom_model_tokens_total", (("direction", "input"), ("model", "scripted-backup")))
    assert samples[key] == backup["tokens_in"]
    assert samples[("controlroom_model_cost_total", (("model", "scripted-backup"),))] == float(
        backup_cost
    )
    assert not any(labels == (("model", "gpt-large"),) for _, labels in samples)


def test_a_final_provider_error_also_hands_over(llm):
    """A 401 (a bad key on the primary's connection) says nothing about the next stage's."""
    llm.push(
        openai_error(401, "invalid api key"),
        openai_text('{"reply": "large"}', model="gpt-large", tokens_in=10, tokens_out=5),
    )
    run = drive(start(cascading_agent(GPT_LARGE)))
    assert run.status == "succeeded", run.error
    step = Step.objects.get(run=run)
    assert (step.output, step.attempt, step.model) == ({"reply": "large"}, 1, "gpt-large")
    failed = step.input["routing"][0]
    assert (failed["outcome"], failed["error_class"]) == ("failed", "final")


def test_when_the_last_stage_fails_the_step_follows_the_retry_rules(llm):
    """Every stage answers 500 on both attempts: each attempt runs the whole cascade once
    (no per-stage retries), then the step fails as transient failures do when retries run out."""
    llm.push(*[openai_error(500, "down") for _ in range(4)])
    run = drive(start(cascading_agent(GPT_LARGE), retry={"max_attempts": 2, "backoff_seconds": 0}))
    assert run.status == "failed"
    step = Step.objects.get(run=run)
    assert (step.attempt, step.status) == (2, "failed")
    assert "gpt-large" in step.error and "HTTP 500" in step.error
    assert [request.body["model"] for request in llm.requests] == [
        "gpt-small",
        "gpt-large",
        "gpt-small",
        "gpt-large",
    ]


def test_an_answer_rejected_by_its_schema_on_the_last_stage_still_fails_the_step(llm):
    """Not a provider error: the last stage's off-schema answer fails the step (unchanged)."""
    llm.push(openai_error(503, "busy"), openai_text('{"reply": 7}', model="gpt-large"))
    run = drive(start(cascading_agent(GPT_LARGE)))
    assert run.status == "failed"
    step = Step.objects.get(run=run)
    assert step.error_class == "domain"
    assert "does not match its output schema" in step.error
