"""A budget's estimate of a model call comes from the node's recent actual answers when it has
any (``flows.guardrails.guard.estimate_spend``), and from ``max_tokens`` when it has none."""

from __future__ import annotations

from typing import Any

import pytest

from flows.engine import runs
from flows.models import PolicyVerdict, Run, Step
from tests.support.flows import document, drive, node, save, scripted

pytestmark = pytest.mark.django_db

BUDGET = {"kind": "budget", "verdict": "block", "config": {"per": "run", "max_tokens": 100}}


def doc(slug: str, *, budget: bool) -> dict[str, Any]:
    # Answers "ok" (1 token) but may answer up to 1000: the ceiling alone breaks the budget.
    return document(
        slug,
        [node("reply", "agent", agent="w", prompt="Say ok")],
        [],
        agents=[scripted("w", "ok", max_tokens=1000, price_in_per_1k="1", price_out_per_1k="1")],
        policies=[BUDGET] if budget else [],
    )


def start(document: dict[str, Any]) -> Run:
    run, _ = runs.run_start(flow=save(document), input={})
    return drive(run)


def estimate(run: Run) -> dict[str, Any]:
    verdict = PolicyVerdict.objects.get(run=run, point="model_call", kind="budget")
    return verdict.facts["estimate"]


def test_without_history_the_estimate_is_max_tokens_and_breaks_the_budget() -> None:
    run = start(doc("never-ran", budget=True))
    assert run.status == "failed"
    assert "would exceed the run budget of 100 tokens" in run.error
    assert estimate(run)["tokens"] > 1000


def test_with_history_the_estimate_is_the_recent_answers_and_the_call_goes_ahead() -> None:
    first = start(doc("ran-before", budget=False))
    assert first.status == "succeeded", first.error
    assert Step.objects.get(run=first).tokens_out == 1
    # The same flow and node, now under a budget its ceiling would break.
    second = start(doc("ran-before", budget=True))
    assert second.status == "succeeded", second.error
    guessed = estimate(second)
    step = Step.objects.get(run=second)
    prompt_tokens = guessed["tokens"] - 1  # one token of answer, as last time
    assert 0 < prompt_tokens < 10
    assert guessed["cost"] == f"{(prompt_tokens + 1) / 1000:.6f}"
    assert step.tokens_out == 1


def test_the_largest_recent_answer_sets_the_estimate() -> None:
    long_answer = "x" * 400  # 100 tokens
    writer = {
        **scripted("w", "ok", max_tokens=1000),
        "script": {"responses": ["ok"], "rules": [{"when": "input.long", "response": long_answer}]},
    }
    flow = document("varied", [node("reply", "agent", agent="w", prompt="Go")], [], agents=[writer])
    for long in (False, True, False):
        run, _ = runs.run_start(flow=save(flow), input={"long": long})
        assert drive(run).status == "succeeded", run.error
    flow["policies"] = [
        {"kind": "budget", "verdict": "block", "config": {"per": "run", "max_tokens": 1000}}
    ]
    run, _ = runs.run_start(flow=save(flow), input={"long": False})
    run = drive(run)
    assert run.status == "succeeded", run.error
    prompt_tokens = estimate(run)["tokens"] - 100
    assert 0 < prompt_tokens < 10
