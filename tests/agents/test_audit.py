"""The audit log: rows are recorded unsealed and redacted, the sealer chains them gaplessly,
the database refuses deletes and edits, and the chain check finds what a superuser changed."""

from __future__ import annotations

import io
import itertools
import json
import threading
import uuid
from collections.abc import Callable

import pytest
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction

from agents import secrets
from agents.agents import AgentInvalid, agent_archive, agent_create, agent_update
from agents.audit import audit_chain_status, audit_record, audit_seal, audit_verify
from agents.connections import connection_create
from agents.models import AuditEvent, AuditVerification
from controlroom.accounts import user_ensure
from controlroom.roles import Role
from tests.support.wait import wait_for

pytestmark = pytest.mark.django_db

TRIGGER = "agents_auditevent_append_only"
SECRET_VALUE = "sk-live-audit-never-shows-this-value-9f3e"


def _record(n: int, **extra: object) -> list[AuditEvent]:
    return [
        audit_record(kind="config", action="flow.saved", flow_slug="f", data={"n": i}, **extra)  # type: ignore[arg-type]
        for i in range(n)
    ]


def _bypass_trigger(sql: str, params: list[int | str]) -> None:
    """What a database superuser could do: switch the trigger off, change a row, switch it on."""
    with connection.cursor() as cursor:
        cursor.execute(f"ALTER TABLE agents_auditevent DISABLE TRIGGER {TRIGGER}")
        cursor.execute(sql, params)
        cursor.execute(f"ALTER TABLE agents_auditevent ENABLE TRIGGER {TRIGGER}")


def test_a_record_is_unsealed_redacted_and_names_its_actor() -> None:
    admin = user_ensure(username="admin", role=Role.ADMIN)
    run_id = uuid.uuid4()
    event = audit_record(
        kind="transition",
        action="step.moved",
        actor=admin,
        run_id=str(run_id),
        step_id=7,
        reason="Authorization: Bearer abcdefghijklmnop1234",
        data={"api_key": "sk-abcdefghijklmnopqrstuvwxyz"},
    )
    row = AuditEvent.objects.get(id=event.id)
    assert (row.seq, row.hash, row.actor, row.actor_id) == (None, "", "admin", admin.pk)
    assert row.run_id == run_id and row.step_id == 7
    assert "abcdefghijklmnop1234" not in row.reason
    assert "sk-abc" not in str(row.data)


def test_unknown_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown audit kind"):
        audit_record(kind="gossip", action="x")


def test_sealing_chains_rows_gaplessly_and_verify_passes() -> None:
    _record(5)
    assert audit_seal() == 5
    _record(3)
    assert audit_seal() == 3
    rows = list(AuditEvent.objects.order_by("seq"))
    assert [row.seq for row in rows] == list(range(1, 9))
    assert rows[0].prev_hash == ""
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(rows))
    check = audit_verify()
    assert check.ok and check.checked == 8 and check.up_to_seq == 8
    assert audit_chain_status().sealed_up_to == 8
    assert AuditVerification.objects.get().ok


def test_a_rolled_back_change_leaves_no_audit_row() -> None:
    with pytest.raises(RuntimeError), transaction.atomic():
        audit_record(kind="config", action="agent.saved")
        raise RuntimeError("the change failed")
    assert not AuditEvent.objects.exists()


# committed rows: a writer thread commits its row on its own connection while the test seals
@pytest.mark.django_db(transaction=True)
def test_rows_committed_out_of_id_order_are_all_sealed() -> None:
    """A long transaction's row (lower id) commits after a later one was sealed: it is sealed
    in the next pass, nothing is skipped and the chain stays gapless."""
    started, release = threading.Event(), threading.Event()

    def slow_writer() -> None:
        with transaction.atomic():
            audit_record(kind="config", action="slow")
            started.set()
            release.wait(10)
        connection.close()

    thread = threading.Thread(target=slow_writer)
    thread.start()
    assert started.wait(10)
    _record(2)
    assert audit_seal() == 2
    release.set()
    thread.join()
    assert audit_seal() == 1
    assert AuditEvent.objects.get(action="slow").seq == 3
    assert audit_verify().ok


def test_database_refuses_delete_edit_and_presealed_insert() -> None:
    (event,) = _record(1)
    audit_seal()
    for sql in (
        "DELETE FROM agents_auditevent WHERE id = %s",
        "UPDATE agents_auditevent SET reason = 'rewritten' WHERE id = %s",
        "UPDATE agents_auditevent SET seq = 99 WHERE id = %s",
    ):
        with (
            pytest.raises(DatabaseError, match="append-only"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(sql, [event.id])
    with pytest.raises(DatabaseError, match="unsealed"), transaction.atomic():
        AuditEvent.objects.create(kind="config", action="forged", seq=2, hash="f" * 64)


def test_tampering_with_one_rows_data_is_detected() -> None:
    _record(6)
    audit_seal()
    victim = AuditEvent.objects.get(seq=4)
    _bypass_trigger(
        "UPDATE agents_auditevent SET data = '{\"n\": 999}'::jsonb WHERE id = %s", [victim.id]
    )
    check = audit_verify()
    assert not check.ok
    assert check.broken_seq == 4 and check.up_to_seq == 3
    assert "changed after it was sealed" in check.message


def test_deleting_a_row_is_detected() -> None:
    _record(6)
    audit_seal()
    _bypass_trigger("DELETE FROM agents_auditevent WHERE seq = %s", [3])
    check = audit_verify()
    assert not check.ok and check.broken_seq == 4
    assert "seq 3 is missing" in check.message


def test_removing_the_newest_rows_after_a_verification_is_detected() -> None:
    _record(5)
    assert audit_verify().ok
    _bypass_trigger("DELETE FROM agents_auditevent WHERE seq >= %s", [4])
    check = audit_verify()
    assert not check.ok and check.broken_seq == 4
    assert "newest rows were removed" in check.message


def test_rehashing_an_edited_row_still_breaks_the_next_link() -> None:
    _record(4)
    audit_seal()
    victim = AuditEvent.objects.get(seq=2)
    _bypass_trigger("UPDATE agents_auditevent SET hash = %s WHERE id = %s", ["0" * 64, victim.id])
    check = audit_verify()
    assert not check.ok and check.broken_seq == 2


def test_verify_command_exits_non_zero_on_a_broken_chain() -> None:
    _record(3)
    out = io.StringIO()
    call_command("audit_verify", stdout=out)
    assert "ok: 3 rows" in out.getvalue()
    _bypass_trigger("UPDATE agents_auditevent SET action = 'other' WHERE seq = %s", [2])
    with pytest.raises(SystemExit) as exit_info:
        call_command("audit_verify", stdout=io.StringIO(), stderr=out)
    assert exit_info.value.code == 1
    assert "seq 2" in out.getvalue()


def test_configuration_changes_are_audited_and_secret_values_never_are(
    use_keys: Callable[..., None], new_key: Callable[[], bytes]
) -> None:
    use_keys(new_key())
    agent = agent_create(values={"slug": "writer", "name": "Writer"})
    agent_update(agent=agent, changes={"role": "writes posts"})
    agent_archive(agent=agent)
    agent_archive(agent=agent)  # already archived: nothing changes, nothing audited
    secrets.secret_set(name="openai-key", value=SECRET_VALUE)
    secrets.secret_set(name="openai-key", value=SECRET_VALUE + "-2")
    connection_create(
        slug="openai", kind="openai", base_url="https://api.example", api_key="openai-key"
    )
    secrets.secrets_rotate()
    rows = list(AuditEvent.objects.filter(kind="config").order_by("id"))
    assert [(row.action, row.subject) for row in rows] == [
        ("agent.created", "writer"),
        ("agent.updated", "writer"),
        ("agent.archived", "writer"),
        ("secret.created", "openai-key"),
        ("secret.replaced", "openai-key"),
        ("connection.created", "openai"),
        ("secrets.rotated", ""),
    ]
    assert rows[1].data == {"changed": ["role"]}
    everything = json.dumps(list(AuditEvent.objects.values()), default=str)
    assert SECRET_VALUE not in everything


def test_a_refused_change_leaves_no_config_row() -> None:
    with pytest.raises(AgentInvalid):
        agent_create(values={"slug": "Bad Slug!"})
    assert not AuditEvent.objects.exists()


# committed rows: writer and sealer threads commit and lock on connections of their own
@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_and_sealers_build_one_gapless_chain() -> None:
    """Four writers commit rows while two sealers race: every row is sealed exactly once, in
    one chain without gaps, and the chain verifies."""
    stop = threading.Event()
    errors: list[BaseException] = []

    def write(worker: int) -> None:
        try:
            for n in range(40):
                with transaction.atomic():
                    audit_record(kind="transition", action="step.moved", data={"w": worker, "n": n})
        except BaseException as exc:  # reported below, not swallowed
            errors.append(exc)
        finally:
            connection.close()

    def seal() -> None:
        try:
            while not stop.is_set():
                audit_seal(wait=False)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    sealers = [threading.Thread(target=seal) for _ in range(2)]
    writers = [threading.Thread(target=write, args=(w,)) for w in range(4)]
    for thread in sealers + writers:
        thread.start()
    for thread in writers:
        thread.join()
    stop.set()
    for thread in sealers:
        thread.join()
    assert errors == []
    audit_seal()
    seqs = list(AuditEvent.objects.order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(1, 161))
    assert audit_verify().ok


# committed rows: the beat-scheduled seal runs in the worker process on its own connection
@pytest.mark.django_db(transaction=True)
def test_the_beat_schedule_seals_new_rows_within_seconds(
    celery_worker: object, celery_beat: object
) -> None:
    event = audit_record(kind="config", action="flow.saved", flow_slug="beat")
    sealed = wait_for(
        lambda: AuditEvent.objects.filter(id=event.id, seq__isnull=False).first(),
        timeout=30,
        message="the audit row to be sealed by agents.audit_seal",
    )
    assert len(sealed.hash) == 64
