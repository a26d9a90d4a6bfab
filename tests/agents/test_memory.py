"""Long-term memory: keys from an agent's memory scope, recall newest first across flows,
retention and a cap per key enforced by the purge."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from pytest_django.fixtures import Settings

from agents.memory import (
    MAX_KEY_CHARS,
    MemoryContentError,
    memory_key,
    memory_purge,
    memory_recall,
    memory_remember,
)
from agents.models import MemoryEntry
from agents.redaction import REDACTED
from agents.secrets import secret_set
from controlroom.expressions import ExpressionError
from flows.engine import context, runs
from flows.models import Run, Step
from tests.support.flows import document, drive, node, save, scripted

pytestmark = pytest.mark.django_db


# --- keys ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("template", "variables", "expected"),
    [
        ("contact:{{ subject }}", {"subject": "ada@example.com"}, "contact:ada@example.com"),
        ("contact:{{ input.email | lower }}", {"input": {"email": "Ada@X.io"}}, "contact:ada@x.io"),
        ("account:{{ input.id }}", {"input": {"id": 42}}, "account:42"),
        ("{{ input.ticket }}", {"input": {"ticket": "T-9"}}, "T-9"),
        ("  team:{{ input.team }}  ", {"input": {"team": "ops"}}, "team:ops"),
        ("global", {}, "global"),
    ],
)
def test_a_memory_scope_renders_to_its_key(template, variables, expected):
    assert memory_key(scope_template=template, variables=variables) == expected


@pytest.mark.parametrize(
    ("template", "variables"),
    [
        ("", {"subject": "ada"}),
        ("   ", {}),
        ("contact:{{ subject }}", {"subject": ""}),
        ("contact:{{ subject }}", {"subject": None}),
        ("contact:{{ input.email }}", {"input": {}}),
        ("{{ input.tags }}", {"input": {"tags": []}}),
        ("a:{{ input.a }}/b:{{ input.b }}", {"input": {"a": "x"}}),
    ],
)
def test_a_scope_with_an_empty_part_names_no_key(template, variables):
    """Otherwise every run without a subject would share (and read) one memory."""
    assert memory_key(scope_template=template, variables=variables) is None


def test_an_over_long_key_is_shortened_the_same_way_every_time():
    variables = {"input": {"email": "a" * 400 + "@example.com"}}
    first = memory_key(scope_template="contact:{{ input.email }}", variables=variables)
    again = memory_key(scope_template="contact:{{ input.email }}", variables=variables)
    other = memory_key(
        scope_template="contact:{{ input.email }}",
        variables={"input": {"email": "a" * 400 + "@example.org"}},
    )
    assert first == again
    assert first is not None and len(first) == MAX_KEY_CHARS
    assert other != first


def test_a_scope_that_does_not_render_is_an_expression_error():
    with pytest.raises(ExpressionError):
        memory_key(scope_template="contact:{{ subject.__class__ }}", variables={"subject": "x"})


# --- remember and recall ------------------------------------------------------------------------


def test_recall_returns_the_newest_entries_first_as_json_data():
    run_id = uuid.uuid4()
    for number in range(1, 4):
        memory_remember(
            key="contact:ada", agent="writer", content={"n": number}, run_id=run_id, step_id=number
        )
    recalled = memory_recall(key="contact:ada", limit=2)
    assert [entry["content"] for entry in recalled] == [{"n": 3}, {"n": 2}]
    first = recalled[0]
    assert set(first) == {"agent", "kind", "content", "created_at", "run_id"}
    assert first["agent"] == "writer" and first["kind"] == "note"
    assert first["run_id"] == str(run_id)
    assert isinstance(first["created_at"], str) and "T" in first["created_at"]


def test_recall_sees_only_its_own_key_and_never_an_expired_entry():
    memory_remember(key="contact:ada", agent="a", content="kept")
    memory_remember(key="contact:bob", agent="a", content="other subject")
    stale = memory_remember(key="contact:ada", agent="a", content="stale")
    MemoryEntry.objects.filter(id=stale.id).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert [entry["content"] for entry in memory_recall(key="contact:ada")] == ["kept"]
    assert memory_recall(key="contact:nobody") == []
    assert memory_recall(key="contact:ada", limit=0) == []


def test_an_entry_expires_after_the_retention_period(settings: Settings):
    settings.CONTROLROOM = {**settings.CONTROLROOM, "MEMORY_RETENTION_DAYS": 7}
    before = timezone.now()
    entry = memory_remember(key="k", agent="a", content="x", kind="summary")
    assert entry.kind == "summary"
    assert entry.expires_at is not None
    assert before + timedelta(days=7) <= entry.expires_at <= timezone.now() + timedelta(days=7)


def test_a_retried_step_replaces_what_its_earlier_attempt_remembered():
    memory_remember(key="k", agent="a", content="attempt 1", step_id=7)
    memory_remember(key="k", agent="a", content="attempt 2", step_id=7)
    memory_remember(key="k", agent="a", content="another kind", kind="fact", step_id=7)
    assert sorted(e["content"] for e in memory_recall(key="k")) == ["another kind", "attempt 2"]
    assert MemoryEntry.objects.filter(key="k").count() == 2


def test_secrets_are_redacted_before_they_are_remembered():
    value = f"sv-{uuid.uuid4().hex}"
    secret_set(name="crm", value=value)
    entry = memory_remember(key="k", agent="a", content={"note": f"used {value}", "n": 1})
    assert entry.content == {"note": f"used {REDACTED}", "n": 1}
    assert value not in str(memory_recall(key="k"))


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"key": ""}, "key"),
        ({"key": "k" * 301}, "key"),
        ({"kind": ""}, "kind"),
        ({"agent": "a" * 81}, "agent"),
        ({"content": {1, 2}}, "JSON"),
        ({"content": float("nan")}, "JSON"),
        ({"content": "x" * 40_000}, "exceeds"),
    ],
)
def test_what_cannot_be_stored_is_refused(fields: dict[str, Any], message: str):
    arguments: dict[str, Any] = {"key": "k", "agent": "a", "content": "ok", **fields}
    with pytest.raises(MemoryContentError, match=message):
        memory_remember(**arguments)
    assert not MemoryEntry.objects.exists()


# --- purge --------------------------------------------------------------------------------------


def test_purge_deletes_expired_entries_and_trims_each_key_to_its_cap(settings: Settings):
    settings.CONTROLROOM = {**settings.CONTROLROOM, "MEMORY_MAX_PER_KEY": 3}
    for number in range(5):
        memory_remember(key="busy", agent="a", content=number)
    memory_remember(key="quiet", agent="a", content="only")
    expired = memory_remember(key="quiet", agent="a", content="old")
    MemoryEntry.objects.filter(id=expired.id).update(expires_at=timezone.now() - timedelta(days=1))

    assert memory_purge() == 3  # one expired, two over the cap
    assert [e["content"] for e in memory_recall(key="busy")] == [4, 3, 2]
    assert [e["content"] for e in memory_recall(key="quiet")] == ["only"]
    assert memory_purge() == 0


def test_purge_at_a_later_time_deletes_what_will_have_expired(settings: Settings):
    settings.CONTROLROOM = {**settings.CONTROLROOM, "MEMORY_RETENTION_DAYS": 30}
    memory_remember(key="k", agent="a", content="x")
    assert memory_purge(now=timezone.now() + timedelta(days=29)) == 0
    assert memory_purge(now=timezone.now() + timedelta(days=31)) == 1
    assert not MemoryEntry.objects.exists()


def test_purge_works_through_more_rows_than_one_batch(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
):
    from agents import memory

    monkeypatch.setattr(memory, "PURGE_BATCH", 4)
    settings.CONTROLROOM = {**settings.CONTROLROOM, "MEMORY_MAX_PER_KEY": 2}
    MemoryEntry.objects.bulk_create(
        [MemoryEntry(key=f"k{i % 2}", content=i, expires_at=None) for i in range(10)]
        + [
            MemoryEntry(key="old", content=i, expires_at=timezone.now() - timedelta(days=1))
            for i in range(9)
        ]
    )
    assert memory_purge() == 9 + 6
    assert MemoryEntry.objects.count() == 4


# --- across runs and flows, the way the agent runtime uses it -----------------------------------


def _agent_step_memory(run: Run, scope_template: str) -> tuple[Step, str | None]:
    """What the runtime does around an agent call: the variables its step sees, the key."""
    step = Step.objects.get(run=run, node_id="agent")
    variables = context.variables(
        run=run, scope=step.scope, outputs=context.Outputs.load(run.id), step_input=step.input
    )
    return step, memory_key(scope_template=scope_template, variables=variables)


def _flow(slug: str, answer: str) -> Any:
    return save(
        document(
            slug,
            [node("agent", "agent", agent="helper", prompt="{{ input.question }}")],
            [],
            agents=[scripted("helper", answer)],
            subject="{{ input.email }}",
        )
    )


def test_a_later_run_of_another_flow_recalls_what_an_earlier_run_remembered():
    scope = "contact:{{ subject }}"
    intake, follow_up = _flow("intake", "Ada wants a demo"), _flow("follow-up", "Booked")

    first, _ = runs.run_start(flow=intake, input={"email": "ada@example.com", "question": "hi"})
    step, key = _agent_step_memory(first, scope)
    assert key == "contact:ada@example.com"
    assert memory_recall(key=key) == []  # given nothing: this contact is new
    first = drive(first)
    assert first.status == "succeeded"
    step.refresh_from_db()
    memory_remember(key=key, agent="helper", content=step.output, run_id=first.id, step_id=step.id)

    second, _ = runs.run_start(
        flow=follow_up, input={"email": "ada@example.com", "question": "again"}
    )
    _, same_key = _agent_step_memory(second, scope)
    assert same_key == key
    recalled = memory_recall(key=same_key)
    assert [(e["agent"], e["content"], e["run_id"]) for e in recalled] == [
        ("helper", "Ada wants a demo", str(first.id))
    ]

    stranger, _ = runs.run_start(
        flow=follow_up, input={"email": "bob@example.com", "question": "?"}
    )
    _, other_key = _agent_step_memory(stranger, scope)
    assert other_key == "contact:bob@example.com"
    assert memory_recall(key=other_key) == []
