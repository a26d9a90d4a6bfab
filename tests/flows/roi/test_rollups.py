"""Folding facts into rollups: every fact counted exactly once, whatever runs at the same time;
reads add the facts not folded yet, so they are never behind."""

from __future__ import annotations

import itertools
import threading
from datetime import UTC, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection, connections, transaction

from flows.engine import runs
from flows.models import Run
from flows.roi.models import Grain, RoiFact, RoiRollup
from flows.roi.rollups import FOLD_LOCK, rollup_fold, rollup_fold_all, rollup_rows
from tests.support.flows import document, node, save, scripted
from tests.support.wait import wait_for

pytestmark = pytest.mark.django_db

WRITERS = 4
FACTS_EACH = 150


def _run() -> Run:
    flow = save(document("fold", [node("a", "agent", agent="w")], [], agents=[scripted("w", "ok")]))
    run, _ = runs.run_start(flow=flow, input={})
    return run


def _total(run: Run) -> Any:
    day = run.created_at.astimezone(UTC).date()
    cells = rollup_rows(since=day, until=day, flow_id=run.flow_id, by=(), grains=(Grain.RUN,))
    return cells[0]


def _run_until_written(
    writers: list[threading.Thread], folders: list[threading.Thread], done: threading.Event
) -> None:
    """Start every thread; once the writers have finished, set ``done`` and wait for the
    folders to stop."""
    for thread in writers + folders:
        thread.start()
    for thread in writers:
        thread.join()
    done.set()
    for thread in folders:
        thread.join()


# committed rows: writer and fold threads commit and read facts on connections of their own
@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_and_folds_count_every_fact_exactly_once() -> None:
    run = _run()
    start = threading.Barrier(WRITERS + 2)
    done = threading.Event()
    seen: dict[int, list[int]] = {0: [], 1: []}
    errors: list[BaseException] = []

    def write() -> None:
        try:
            start.wait()
            for _ in range(FACTS_EACH):
                with transaction.atomic():
                    RoiFact.objects.create(run=run, grain=Grain.RUN, n=1, cost=Decimal("0.01"))
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connections.close_all()

    def fold(me: int) -> None:
        try:
            start.wait()
            while not done.is_set():
                rollup_fold(batch=37)
                seen[me].append(_total(run).n)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    writers = [threading.Thread(target=write) for _ in range(WRITERS)]
    folders = [threading.Thread(target=fold, args=(me,)) for me in range(2)]
    _run_until_written(writers, folders, done)
    assert not errors, errors
    expected = WRITERS * FACTS_EACH
    # Each reader's totals while folding: never more than was written, never going back.
    for reads in seen.values():
        assert reads and all(a <= b for a, b in itertools.pairwise(reads))
        assert max(reads) <= expected
    assert _total(run).n == expected  # before the last fold: rollups + unfolded facts
    rollup_fold_all()
    assert not RoiFact.objects.exists()
    total = _total(run)
    assert (total.n, total.cost) == (expected, Decimal("0.01") * expected)
    assert RoiRollup.objects.filter(flow_id=run.flow_id, grain=Grain.RUN).count() == 1


def test_a_rolled_back_transition_leaves_no_fact() -> None:
    run = _run()
    with pytest.raises(RuntimeError), transaction.atomic():
        RoiFact.objects.create(run=run, grain=Grain.RUN, n=1)
        raise RuntimeError("the transition's transaction failed")
    assert not RoiFact.objects.exists()


# committed rows: a thread holds the fold's advisory lock on its own connection
@pytest.mark.django_db(transaction=True)
def test_a_fold_while_another_holds_the_lock_does_nothing() -> None:
    run = _run()
    RoiFact.objects.create(run=run, grain=Grain.RUN, n=1)
    held = threading.Event()
    release = threading.Event()

    def hold() -> None:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [FOLD_LOCK])
            held.set()
            release.wait(10)
        connections.close_all()

    holder = threading.Thread(target=hold)
    holder.start()
    held.wait(10)
    try:
        assert rollup_fold() == 0
        assert RoiFact.objects.count() == 1
    finally:
        release.set()
        holder.join()
    assert rollup_fold() == 1


def test_facts_count_on_the_day_the_run_started() -> None:
    run = _run()
    Run.objects.filter(id=run.id).update(created_at=run.created_at - timedelta(days=3))
    run.refresh_from_db()
    RoiFact.objects.create(run=run, grain=Grain.OUTCOME, key="meeting_booked", n=1, ok=1)
    rollup_fold_all()
    row = RoiRollup.objects.get(grain=Grain.OUTCOME)
    assert row.day == run.created_at.astimezone(UTC).date()
    assert (row.version_id, row.key, row.n) == (run.version_id, "meeting_booked", 1)


# committed rows: the beat-scheduled fold runs in the worker process on its own connection
@pytest.mark.django_db(transaction=True)
def test_the_scheduler_folds_facts_within_seconds(celery_worker: Any, celery_beat: Any) -> None:
    run = _run()
    probes = (RoiFact(run=run, grain=Grain.OUTCOME, key="probe", n=1) for _ in range(5))
    RoiFact.objects.bulk_create(probes)
    wait_for(lambda: not RoiFact.objects.exists(), timeout=20, message="the periodic fold")
    assert RoiRollup.objects.get(grain=Grain.OUTCOME, key="probe").n == 5
