"""Agents remember per subject across flows, and their step shows what they were given."""

from __future__ import annotations

import pytest

from agents.models import MemoryEntry
from flows.engine import runs
from flows.models import Step
from tests.support.flows import document, drive, node, save, scripted

pytestmark = pytest.mark.django_db


def _flow(slug: str, reply: str) -> dict:
    return document(
        slug,
        [node("talk", "agent", agent="rep", prompt="Hello from {{ input.email }}")],
        [],
        subject="{{ input.email }}",
        agents=[scripted("rep", reply, memory_scope="contact:{{ subject }}")],
    )


def test_a_later_run_of_another_flow_recalls_what_an_earlier_run_remembered():
    first = save(_flow("intro", "Nice to meet you"))
    second = save(_flow("follow-up", "Last time I said: {{ memory[0].content.answer }}"))
    run_a, _ = runs.run_start(flow=first, input={"email": "ada@example.com"})
    drive(run_a)
    run_b, _ = runs.run_start(flow=second, input={"email": "ada@example.com"})
    run_b = drive(run_b)
    assert run_b.output == "Last time I said: Nice to meet you"
    step = Step.objects.get(run=run_b)
    assert step.input["memory_key"] == "contact:ada@example.com"
    assert step.input["memory"][0]["content"]["answer"] == "Nice to meet you"
    assert step.input["prompt"] == "Hello from ada@example.com"
    assert MemoryEntry.objects.filter(key="contact:ada@example.com").count() == 2


def test_memory_is_per_subject():
    flow = save(_flow("per-subject", "{{ memory | length }} things remembered"))
    drive(runs.run_start(flow=flow, input={"email": "ada@example.com"})[0])
    other = drive(runs.run_start(flow=flow, input={"email": "grace@example.com"})[0])
    assert other.output == "0 things remembered"
