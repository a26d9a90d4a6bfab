"""Issue 14, finding 14: a full card number a PII policy redacted before the model stayed in
the step's stored input (the prompt shown on the run page), in the agent's memory and in the
policy verdicts of later tool calls. What a redaction kept from the model is stored redacted
everywhere the step writes it; the model's conversation numbering (``[CARD_1]``) is kept."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client
from pytest_django.fixtures import Settings

from agents.models import AuditEvent, MemoryEntry, ProviderConnection
from controlroom.accounts import token_issue, user_ensure
from controlroom.roles import Role
from flows.engine import runs
from flows.models import PolicyVerdict, Run, Step
from tests.support.fake_llm import FakeLLM, openai_text, openai_tool_calls
from tests.support.flows import document, drive, node, save
from tests.support.loopback_http import egress_configure

pytestmark = pytest.mark.django_db

CARD = "4111 1111 1111 1111"
EMAIL = "ann@example.com"
TEXT = f"I am {EMAIL}, my card {CARD} was blocked."


@pytest.fixture
def llm(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeLLM]:
    with FakeLLM("openai") as server:
        # Provider calls follow the egress rules: open the loopback model server as a
        # deployment opens a local one.
        egress_configure(settings, monkeypatch, "127.0.0.1")
        ProviderConnection.objects.create(
            slug="fake-openai", kind="openai", base_url=server.url, timeout_seconds=5
        )
        yield server


def pii_flow(*, restore: bool = False, extra_policies: tuple[dict[str, Any], ...] = ()) -> Any:
    agent = {
        "slug": "helper",
        "provider": "openai",
        "model": "gpt-small",
        "connection": "fake-openai",
        "tools": ["send_email"],
        "memory_scope": "contact:{{ subject }}",
    }
    return document(
        "cards",
        [node("help", "agent", agent="helper", prompt="{{ input.text }}")],
        [],
        agents=[agent],
        subject="{{ input.contact }}",
        policies=[
            {"kind": "pii", "verdict": "redact", "config": {"restore": restore}},
            *extra_policies,
        ],
    )


def start(doc: dict[str, Any]) -> Run:
    run, _ = runs.run_start(flow=save(doc), input={"text": TEXT, "contact": "ada"})
    return drive(run)


def stored_copies(run: Run) -> str:
    """Everything the run's steps left in the database, but the run's own input."""
    rows: list[Any] = list(Step.objects.filter(run=run).values("input", "output", "error"))
    rows += list(PolicyVerdict.objects.filter(run=run).values("facts", "reason"))
    rows += list(AuditEvent.objects.values("data", "reason", "subject"))
    rows += list(MemoryEntry.objects.values("content", "key"))
    return json.dumps(rows, default=str)


def test_a_redacted_card_number_is_stored_redacted(llm: FakeLLM) -> None:
    llm.push(openai_text("Sorry to hear that; card [CARD_1] will be replaced."))
    run = start(pii_flow())
    assert run.status == "succeeded", run.error
    assert CARD not in json.dumps([request.body for request in llm.requests])
    step = Step.objects.get(run=run, node_id="help")
    assert step.input["prompt"] == "I am [EMAIL_1], my card [CARD_1] was blocked."
    assert MemoryEntry.objects.get().content["prompt"].startswith("I am [EMAIL_1]")
    copies = stored_copies(run)
    assert CARD not in copies and EMAIL not in copies


def test_the_run_as_a_viewer_reads_it_shows_no_raw_value_in_any_step(llm: FakeLLM) -> None:
    llm.push(openai_text("Noted."))
    run = start(pii_flow())
    viewer = user_ensure(username="viewer", role=Role.VIEWER)
    client = Client(HTTP_AUTHORIZATION=f"Bearer {token_issue(user=viewer)}")
    answer = client.get(f"/api/runs/{run.id}")
    assert answer.status_code == 200, answer.content
    steps = json.dumps(answer.json()["steps"])
    assert "[CARD_1]" in steps and CARD not in steps and EMAIL not in steps


def test_a_parked_tool_call_keeps_the_prompt_redacted(llm: FakeLLM) -> None:
    llm.push(
        openai_tool_calls(
            ("call_1", "send_email", json.dumps({"to": "[EMAIL_1]", "body": "new card soon"}))
        )
    )
    gate: dict[str, Any] = {
        "kind": "approval",
        "verdict": "require_approval",
        "config": {"categories": ["outbound_message"]},
    }
    run = start(pii_flow(restore=True, extra_policies=(gate,)))
    assert run.status == "waiting_approval", run.error
    step = Step.objects.get(run=run, node_id="help")
    assert step.input["policy_gate"]["prompt"] == "I am [EMAIL_1], my card [CARD_1] was blocked."
    # The gated call itself goes out with the restored address (the approver must see where
    # it goes), but the card number the model never saw is nowhere.
    assert CARD not in stored_copies(run)


def test_without_a_redaction_nothing_is_rewritten(llm: FakeLLM) -> None:
    llm.push(openai_text("ok"))
    doc = pii_flow()
    doc["policies"] = []
    run = start(doc)
    assert Step.objects.get(run=run, node_id="help").input["prompt"] == TEXT
