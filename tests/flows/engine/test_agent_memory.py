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


def test_what_the_run_itself_wrote_is_not_presented_as_history():
    greeting = "{{ 'Good to hear from you again' if memory else 'Nice to meet you' }}"
    flow = save(
        document(
            "first-contact",
            [
                node("qualify", "agent", agent="rep", prompt="Qualify {{ input.email }}"),
                node("greet", "agent", agent="rep", prompt="Greet {{ input.email }}"),
            ],
            [("qualify", "greet")],
            subject="{{ input.email }}",
            agents=[scripted("rep", "Qualified", greeting, memory_scope="contact:{{ subject }}")],
        )
    )
    first = drive(runs.run_start(flow=flow, input={"email": "new@example.com"})[0])
    assert first.status == "succeeded", first.error
    assert first.output == "Nice to meet you"  # the qualify step's own entry is not history
    greet = Step.objects.get(run=first, node_id="greet")
    assert greet.input["memory"] == []
    assert MemoryEntry.objects.filter(run_id=first.id).count() == 2
    # A later run of the same subject does have history: both entries of the first run.
    second = drive(runs.run_start(flow=flow, input={"email": "new@example.com"})[0])
    qualify = Step.objects.get(run=second, node_id="qualify")
    assert [entry["run_id"] for entry in qualify.input["memory"]] == [str(first.id)] * 2
    greet = Step.objects.get(run=second, node_id="greet")
    assert {entry["run_id"] for entry in greet.input["memory"]} == {str(first.id)}
