"""What one middle agent step costs PostgreSQL: round trips, transactions and WAL bytes.

Counted on the wire, not estimated: each delivery of a step message runs here as a worker
runs it (the body of the ``flows.step_execute`` task — with eager continuation, when the engine
runs a run's next steps itself — between the task signals' ``close_old_connections``), with
libpq's protocol trace on the connection (``PQtrace``). From the trace:

- *round trips*: the server's ``ReadyForQuery`` messages, one per request the client waited
  for (``BEGIN`` and ``COMMIT`` included, as are health checks);
- *statements*: SQL commands sent (simple ``Query`` or extended ``Execute``), transaction
  control excluded;
- *transactions*: explicit ``BEGIN`` … ``COMMIT``/``ROLLBACK`` blocks (statements outside a
  block are PostgreSQL transactions too; they are reported beside them as *autocommit*);
- *WAL bytes*: ``pg_current_wal_insert_lsn()`` before and after, read on another connection.
  The LSN is cluster-wide: WAL written by anything else on the same PostgreSQL at that moment
  counts too (a test session holds the machine's servers alone), so the median is reported.

"Per middle step" is the difference between a ``LONG``-step and a ``SHORT``-step chain's
totals, divided by the extra steps: the first step's and the last step's own work (starting
and finishing the run) cancel out, whatever the engine runs per delivery (one step, or a
chain of them). Alternating rounds
(``BENCH_STATEMENT_ROUNDS``); targets: ≤ 8 round trips, ≤ 2 transactions, ≤ 4 KiB WAL.
"""

from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass, field, fields
from pathlib import Path

import psycopg
import pytest
from django.db import close_old_connections, connection
from psycopg import pq

from flows.engine import runs
from flows.models import Flow, Run, Step
from flows.states import RUN_TERMINAL
from flows.tasks import step_execute_task
from tests.bench import harness
from tests.bench.engine import chain_flow
from tests.support.stack import database_url_from_settings

# committed rows: a worker's transactions are real BEGIN/COMMIT pairs, not savepoints
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(600)]

LONG = harness.int_knob("BENCH_STATEMENT_LONG", 10)
SHORT = harness.int_knob("BENCH_STATEMENT_SHORT", 4)
ROUNDS = harness.int_knob("BENCH_STATEMENT_ROUNDS", 5)
CONTROL = re.compile(r"^(BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE SAVEPOINT|ROLLBACK TO)\b", re.I)


@dataclass
class Tally:
    round_trips: float = 0
    statements: float = 0
    transactions: float = 0
    autocommit: float = 0
    wal_bytes: float = 0
    sql: list[str] = field(default_factory=list, repr=False)

    def counts(self) -> list[float]:
        return [getattr(self, f.name) for f in fields(self) if f.name != "sql"]

    def __add__(self, other: Tally) -> Tally:
        pairs = zip(self.counts(), other.counts(), strict=True)
        return Tally(*(a + b for a, b in pairs), sql=self.sql + other.sql)

    def per_step(self, other: Tally, steps: int) -> Tally:
        """(self - other) / steps, count by count."""
        pairs = zip(self.counts(), other.counts(), strict=True)
        return Tally(*((a - b) / steps for a, b in pairs))


def _messages(text: str) -> list[list[str]]:
    """The trace's messages, each split on tabs; a message whose SQL holds newlines spans
    several lines (the ones that do not start with a direction)."""
    messages: list[list[str]] = []
    for line in text.split("\n"):
        if line.startswith(("F\t", "B\t")) or not messages:
            messages.append(line.split("\t", 3))
        else:
            messages[-1][-1] += "\n" + line
    return messages


def parse_trace(text: str) -> Tally:
    """Count a libpq trace (``PQTRACE_SUPPRESS_TIMESTAMPS``: ``<F|B>\\t<len>\\t<message>…``)."""
    tally = Tally()
    in_block = False
    for parts in _messages(text):
        if len(parts) < 3:
            continue
        side, message = parts[0], parts[2]
        rest = parts[3].strip() if len(parts) > 3 else ""
        if side == "F" and message == "Query":
            sql = rest.split('"', 1)[-1].rsplit('"', 1)[0].strip()
            if not CONTROL.match(sql):
                tally.statements += 1
                tally.sql.append(" ".join(sql.split())[:300])
        elif side == "F" and message == "Parse":
            tally.sql.append(" ".join(rest.split())[:300])
        elif side == "F" and message == "Execute":
            tally.statements += 1
        elif side == "B" and message == "ReadyForQuery":
            tally.round_trips += 1
            status = rest[:1]
            if status == "I":
                if in_block:
                    tally.transactions += 1
                else:
                    tally.autocommit += 1
            in_block = status in {"T", "E"}
    return tally


class Wal:
    """The cluster's WAL insert position, read on a connection of its own."""

    def __init__(self) -> None:
        url = database_url_from_settings(connection.settings_dict)
        self.conn = psycopg.connect(url, autocommit=True)

    def lsn(self) -> str:
        row = self.conn.execute("SELECT pg_current_wal_insert_lsn()::text").fetchone()
        assert row is not None
        return str(row[0])

    def since(self, start: str) -> int:
        row = self.conn.execute(
            "SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), %s::pg_lsn)", [start]
        ).fetchone()
        assert row is not None
        return int(row[0])

    def close(self) -> None:
        self.conn.close()


def deliver(step_id: int, wal: Wal, trace_dir: Path) -> Tally:
    """One delivery of a step message, as the worker's task runs it, traced on the wire."""
    close_old_connections()  # the task_prerun signal (controlroom/celery.py)
    connection.ensure_connection()
    pgconn = connection.connection.pgconn
    path = trace_dir / f"step-{step_id}.trace"
    with path.open("w") as handle:
        start = wal.lsn()
        pgconn.trace(handle.fileno())
        pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS | pq.Trace.REGRESS_MODE)
        try:
            step_execute_task.run(step_id)  # the task body, without Celery around it
            close_old_connections()  # the task_postrun signal
        finally:
            pgconn.untrace()
        wal_bytes = wal.since(start)
    tally = parse_trace(path.read_text())
    tally.wal_bytes = wal_bytes
    return tally


def run_chain(flow: Flow, wal: Wal, trace_dir: Path) -> tuple[Tally, list[Tally]]:
    """Start a run of ``flow`` and deliver its queued steps here until it ends: the total and
    each delivery's tally."""
    run, _ = runs.run_start(flow=flow, input={})
    deliveries: list[Tally] = []
    for _ in range(200):
        status = Run.objects.values_list("status", flat=True).get(id=run.id)
        if status in RUN_TERMINAL:
            break
        queued = Step.objects.filter(run_id=run.id, status="queued").order_by("id").first()
        assert queued is not None, f"run {run.id} stalled ({status})"
        deliveries.append(deliver(queued.id, wal, trace_dir))
    assert Run.objects.get(id=run.id).status == "succeeded"
    total = Tally()
    for tally in deliveries:
        total = total + tally
    return total, deliveries


def test_round_trips_transactions_and_wal_of_a_middle_agent_step() -> None:
    bench = harness.Benchmark(
        "step_statements",
        f"PostgreSQL cost of a middle agent step ({LONG}- vs {SHORT}-step chains, on the wire)",
        settings={"long": LONG, "short": SHORT, "rounds": ROUNDS},
    )
    long_flow, short_flow = chain_flow("bench-sql-long", LONG), chain_flow("bench-sql-short", SHORT)
    wal = Wal()
    per_step: list[Tally] = []
    middle: list[Tally] = []
    try:
        with tempfile.TemporaryDirectory(prefix="bench-trace-") as tmp:
            trace_dir = Path(tmp)
            run_chain(short_flow, wal, trace_dir)  # warm per-process caches, as a busy worker
            for _ in range(ROUNDS):
                short, _ = run_chain(short_flow, wal, trace_dir)
                long, deliveries = run_chain(long_flow, wal, trace_dir)
                per_step.append(long.per_step(short, LONG - SHORT))
                if len(deliveries) == LONG:  # one step per delivery: the middle ones, as is
                    middle += deliveries[1:-1]
    finally:
        wal.close()
    bench.rounds = ROUNDS
    targets = {
        "round_trips": ("round trips", harness.Target("ours", "<=", 8)),
        "statements": ("SQL statements", None),
        "transactions": ("transactions (BEGIN…COMMIT)", harness.Target("ours", "<=", 2)),
        "autocommit": ("autocommit statements", None),
        "wal_bytes": ("WAL bytes", harness.Target("ours", "<=", 4096, "B")),
    }
    for name, (label, target) in targets.items():
        samples = [getattr(tally, name) for tally in per_step]
        bench.add(
            harness.Measure(
                f"{label} per middle step",
                "B" if name == "wal_bytes" else "",
                ours=harness.percentile(samples, 50),
                target=target,
                ours_samples=samples,
            )
        )
        # Cross-check: the middle deliveries' own counts, when each delivery ran one step.
        bench.extra[f"middle_deliveries_{name}"] = harness.summary(
            [getattr(tally, name) for tally in middle]
        )
    if middle:
        bench.extra["one_middle_delivery_sql"] = middle[len(middle) // 2].sql
    bench.notes.append(
        "WAL is the cluster-wide insert LSN delta: other sessions' WAL at the same moment "
        "counts too. Transactions are explicit blocks; autocommit statements are separate."
    )
    bench.save()
