"""The record store and the ``upsert_record`` tool: shallow merges, one row per kind and key,
and a retried call (same idempotency key) that replays instead of writing again."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from agents import tools
from agents.models import Effect, Record
from agents.records import RecordError, record_get, record_upsert
from agents.tools import ToolError

pytestmark = pytest.mark.django_db


def upsert(idempotency_key: str, /, **args: object) -> dict[str, object]:
    result = tools.tool_call(
        name="upsert_record", args=args, idempotency_key=idempotency_key, subject="ada@example.com"
    )
    assert isinstance(result, dict)
    return result


def test_an_upsert_creates_then_merges_shallowly() -> None:
    record, created = record_upsert(
        kind="contact", key="ada@example.com", data={"name": "Ada", "stage": "lead"}
    )
    assert created and record.data == {"name": "Ada", "stage": "lead"}
    record, created = record_upsert(
        kind="contact", key="ada@example.com", data={"stage": "customer", "plan": "pro"}
    )
    assert not created
    assert record.data == {"name": "Ada", "stage": "customer", "plan": "pro"}
    assert Record.objects.count() == 1


def test_a_null_field_removes_it() -> None:
    record_upsert(kind="contact", key="k", data={"phone": "123", "name": "Ada"})
    record, _ = record_upsert(kind="contact", key="k", data={"phone": None})
    assert record.data == {"name": "Ada"}


def test_merging_the_same_data_twice_changes_nothing() -> None:
    once, _ = record_upsert(kind="ticket", key="T-1", data={"status": "open"})
    twice, _ = record_upsert(kind="ticket", key="T-1", data={"status": "open"})
    assert once.data == twice.data == {"status": "open"}


@pytest.mark.parametrize(
    ("kind", "key"), [("Contact Person", "k"), ("", "k"), ("contact", ""), ("contact", "x" * 301)]
)
def test_bad_kinds_and_keys_are_refused(kind: str, key: str) -> None:
    with pytest.raises(RecordError):
        record_upsert(kind=kind, key=key, data={})


# committed rows: two threads upsert the record on connections of their own, racing for its lock
@pytest.mark.django_db(transaction=True)
def test_concurrent_upserts_of_one_record_both_land() -> None:
    record_upsert(kind="account", key="acme", data={})
    barrier = threading.Barrier(2)

    def write(field: str) -> None:
        barrier.wait()
        try:
            record_upsert(kind="account", key="acme", data={field: True})
        finally:
            connection.close()

    threads = [threading.Thread(target=write, args=(field,)) for field in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    record = record_get(kind="account", key="acme")
    assert record is not None and record.data == {"a": True, "b": True}


def test_the_tool_is_a_write_through_the_ledger() -> None:
    assert tools.tool_get("upsert_record").category == "write"
    result = upsert("run-1:save:", kind="contact", key="ada", data={"stage": "lead"})
    assert result == {
        "kind": "contact",
        "key": "ada",
        "data": {"stage": "lead"},
        "created": True,
        "replayed": False,
    }
    effect = Effect.objects.get(key="run-1:save:")
    assert (effect.tool, effect.category, effect.subject) == (
        "upsert_record",
        "write",
        "ada@example.com",
    )


def test_a_retried_call_replays_and_does_not_write_again() -> None:
    upsert("run-2:save:", kind="contact", key="ada", data={"visits": 1})
    record_upsert(kind="contact", key="ada", data={"visits": 5})  # someone else wrote since
    again = upsert("run-2:save:", kind="contact", key="ada", data={"visits": 1})
    assert again["replayed"] is True
    assert again["data"] == {"visits": 1}
    assert record_get(kind="contact", key="ada").data == {"visits": 5}  # type: ignore[union-attr]


def test_calls_with_different_keys_merge_into_one_record() -> None:
    upsert("run-3:a:", kind="contact", key="ada", data={"a": 1})
    second = upsert("run-3:b:", kind="contact", key="ada", data={"b": 2})
    assert second["data"] == {"a": 1, "b": 2} and second["created"] is False
    assert Record.objects.filter(kind="contact", key="ada").count() == 1


def test_the_tool_validates_its_arguments() -> None:
    with pytest.raises(ToolError, match="kind"):
        upsert("run-4:x:", kind="Not A Slug", key="k")
    with pytest.raises(ToolError, match="data"):
        upsert("run-4:x:", kind="contact", key="k", data=["not", "an", "object"])
    assert not Effect.objects.filter(key="run-4:x:").exists()
