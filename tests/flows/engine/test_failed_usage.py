"""What a failed step attempt spent is billed: an agent whose cascade used tokens before its
last stage failed (or whose last answer broke its schema) adds that usage to its run's tokens
and cost, to ROI by model and to Prometheus, whether the step is retried, fails the run, takes
an error edge or continues on error.

The models are a real OpenAI-protocol server on loopback (``tests.support.fake_llm``) driven by
the official SDK; steps run with ``drive`` (the runner code the Celery task calls), as
``test_agent_cascade`` does.
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
from flows.engine import runs
from flows.models import Run, RunEvent, Step
from flows.roi.selectors import flow_dashboard
from tests.support.fake_llm import FakeLLM, openai_error, openai_text
from tests.support.flows import document, drive, node, save, scripted
from tests.support.loopback_http import egress_configure

pytestmark = pytest.mark.django_db

SCHEMA = {"type": "object", "required": ["reply"], "properties": {"reply": {"type": "string"}}}
SMALL_COST = Decimal("1.2")  # 1000 tokens in at 1/1k + 100 out at 2/1k


@pytest.fixture
def llm(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeLLM]:
    with FakeLLM("openai") as server:
        egress_configure(settings, monkeypatch, "127.0.0.1")
        ProviderConnection.objects.create(
            slug="fake-openai", kind="openai", base_url=server.url, timeout_seconds=5
        )
        yield server


def answerer(*cascade: dict[str, Any]) -> dict[str, Any]:
    return {
        "slug": "answerer",
        "provider": "openai",
        "model": "gpt-small",
        "connection": "fake-openai",
        "price_in_per_1k": "1",
        "price_out_per_1k": "2",
        "output": "json",
        "output_schema": SCHEMA,
        "cascade": list(cascade),
    }


GPT_LARGE = {"model": "gpt-large", "price_in_per_1k": "10", "price_out_per_1k": "20"}
NO_RETRY = {"max_attempts": 1}


def escalates_then_500(server: FakeLLM, times: int = 1) -> None:
    """gpt-small answers off-schema (1000/100 tokens: escalates), gpt-large answers 500."""
    for _ in range(times):
        server.push(
            openai_text('{"reply": 42}', model="gpt-small", tokens_in=1000, tokens_out=100),
            openai_error(500, "the large model is down"),
        )


def start(
    *,
    retry: dict[str, Any],
    on_error: str | None = None,
    error_edge: bool = False,
    agents: list[dict[str, Any]] | None = None,
) -> Run:
    answer = node("answer", "agent", agent="answerer", prompt="hello", retry=retry)
    if on_error is not None:
        answer["on_error"] = on_error
    nodes = [answer, node("after", "end", output="{{ steps.answer.output }}")]
    edges: list[Any] = [("answer", "after")]
    if error_edge:
        nodes.append(node("fallback", "agent", agent="backup", prompt="hello"))
        edges.append({"from": "answer", "to": "fallback", "on": "error"})
    backup = scripted("backup", "from the backup", price_in_per_1k="0", price_out_per_1k="0")
    doc = document("failed-usage", nodes, edges, agents=agents or [answerer(GPT_LARGE), backup])
    run, _ = runs.run_start(flow=save(doc), input={})
    return run


def by_model(run: Run) -> dict[str, tuple[int, int, int, Decimal]]:
    today = timezone.now().date()
    board = flow_dashboard(flow=run.flow, since=today, until=today)
    return {
        row.label: (row["calls"], row["tokens_in"], row["tokens_out"], row["cost"])
        for row in board.models
        if row["tokens_in"] or row["tokens_out"] or row["cost"]
    }


def prometheus() -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = Client().get("/metrics")
    assert response.status_code == 200, response.content
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.content.decode())
        for sample in family.samples
    }


def test_a_step_failing_for_good_bills_its_escalated_stage(llm):
    """Stage 1 answers (1000/100 tokens) and escalates, stage 2 answers 500, no retries: the
    step and the run fail, and the run's tokens and cost, the step's row, ROI by model and
    Prometheus all include stage 1's usage, billed to gpt-small."""
    escalates_then_500(llm)
    run = drive(start(retry=NO_RETRY))

    assert (run.status, run.error_class) == ("failed", "transient")
    assert (run.tokens_in, run.tokens_out, run.cost) == (1000, 100, SMALL_COST)
    step = Step.objects.get(run=run, node_id="answer")
    assert (step.status, step.model) == ("failed", "gpt-large")
    assert (step.tokens_in, step.tokens_out, step.cost) == (1000, 100, SMALL_COST)
    assert [(s["model"], s["outcome"]) for s in step.input["routing"]] == [
        ("gpt-small", "escalated"),
        ("gpt-large", "failed"),
    ]
    assert by_model(run) == {"gpt-small": (1, 1000, 100, SMALL_COST)}
    samples = prometheus()
    small_in = (("direction", "input"), ("model", "gpt-small"))
    assert samples[("controlroom_model_tokens_total", small_in)] == 1000
    assert samples[("controlroom_model_cost_total", (("model", "gpt-small"),))] == 1.2


def test_every_retried_attempt_is_billed_once(llm):
    """Two attempts, each escalating from gpt-small and failing on gpt-large: both attempts'
    usage is billed (the first when it is retried, the second when the step fails)."""
    escalates_then_500(llm, times=2)
    run = drive(start(retry={"max_attempts": 2, "backoff_seconds": 0}))

    assert run.status == "failed"
    assert (run.tokens_in, run.tokens_out, run.cost) == (2000, 200, 2 * SMALL_COST)
    step = Step.objects.get(run=run, node_id="answer")
    assert (step.attempt, step.tokens_in, step.cost) == (2, 1000, SMALL_COST)
    assert by_model(run) == {"gpt-small": (2, 2000, 200, 2 * SMALL_COST)}
    retried = RunEvent.objects.get(step=step, kind="step.moved", to_status="queued")
    assert retried.data["spent"] == {
        "model": "gpt-large",
        "tokens_in": 1000,
        "tokens_out": 100,
        "cost": "1.200000",
    }


def test_an_error_edge_or_continue_still_bills_the_failed_step(llm):
    """The run goes on past the failure (an error edge to a free backup, or on_error
    continue) and succeeds: what the failed step spent is in its cost all the same."""
    escalates_then_500(llm, times=2)
    routed = drive(start(retry=NO_RETRY, error_edge=True))
    continued = drive(start(retry=NO_RETRY, on_error="continue"))

    assert routed.status == continued.status == "succeeded"
    backup = Step.objects.get(run=routed, node_id="fallback")  # free, but it counts tokens
    assert (routed.tokens_in, routed.tokens_out, routed.cost) == (
        1000 + backup.tokens_in,
        100 + backup.tokens_out,
        SMALL_COST,
    )
    assert (continued.tokens_in, continued.tokens_out, continued.cost) == (1000, 100, SMALL_COST)
    step = Step.objects.get(run=continued, node_id="answer")
    assert step.status == "succeeded"
    assert (step.output or {})["error"]["class"] == "transient"
    assert (step.tokens_in, step.cost, step.input["on_error"]) == (1000, SMALL_COST, "continued")
    # Both runs are of the same flow: ROI by model bills both failed steps to gpt-small.
    assert by_model(routed)["gpt-small"] == (2, 2000, 200, 2 * SMALL_COST)


def test_a_last_answer_that_breaks_its_schema_is_billed(llm):
    """Not a provider error: the only stage answers off-schema (the step fails, domain), and
    the tokens of that answer are billed."""
    llm.push(openai_text('{"reply": 7}', model="gpt-small", tokens_in=1000, tokens_out=100))
    run = drive(start(retry=NO_RETRY, agents=[answerer()]))

    assert (run.status, run.error_class) == ("failed", "domain")
    assert (run.tokens_in, run.tokens_out, run.cost) == (1000, 100, SMALL_COST)
    assert by_model(run) == {"gpt-small": (1, 1000, 100, SMALL_COST)}
