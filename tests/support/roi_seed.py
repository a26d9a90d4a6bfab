"""SYNTHETIC rows for the ROI benchmark and its smoke test: runs and steps seeded with SQL
(``generate_series``), their rollups built by one grouped INSERT, and the naive aggregate
over the raw tables that the dashboard is measured against.

Only benchmarks seed synthetic rows (DESIGN.md); everything else runs flows through the engine.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from django.db import connection

from flows.models import Flow, FlowVersion
from flows.roi.models import BUCKET_BOUNDS_MS, BUCKETS, MEASURES
from flows.roi.selectors import Dashboard
from tests.support.flows import document, node, save, scripted

DAYS = 90
STEPS_PER_RUN = 5
NODES = (  # node id, type, agent, model
    ("n1", "agent", "writer", "model-a"),
    ("n2", "agent", "checker", "model-b"),
    ("n3", "approval", "", ""),
    ("n4", "tool", "", ""),
    ("n5", "end", "", ""),
)
_BOUNDS = "ARRAY[" + ",".join(str(b) for b in BUCKET_BOUNDS_MS) + "]::bigint[]"


def _filler(table: str, given: set[str]) -> dict[str, str]:
    """SQL for every NOT NULL column without a database default that the seed does not set
    (columns other work adds to runs and steps keep the seed working)."""
    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT column_name, data_type FROM information_schema.columns
               WHERE table_name = %s AND is_nullable = 'NO' AND column_default IS NULL
                 AND is_identity = 'NO'""",
            [table],
        )
        columns = cursor.fetchall()
    by_type = {
        "jsonb": "'{}'::jsonb",
        "boolean": "false",
        "uuid": "gen_random_uuid()",
        "timestamp with time zone": "now()",
        "date": "current_date",
    }
    filled = {}
    for name, kind in columns:
        if name in given:
            continue
        if kind in by_type:
            filled[name] = by_type[kind]
        elif kind in {"integer", "bigint", "smallint", "numeric", "double precision", "real"}:
            filled[name] = "0"
        else:
            filled[name] = "''"
    return filled


def _insert(table: str, values: dict[str, str], source: str) -> None:
    values = values | _filler(table, set(values))
    sql = f"INSERT INTO {table} ({', '.join(values)}) SELECT {', '.join(values.values())} {source}"
    with connection.cursor() as cursor:
        cursor.execute(sql)


@dataclass
class Seeded:
    flow: Flow
    since: date
    until: date
    runs: int
    rollup_rows: int

    def check(self, board: Dashboard, naive: dict[str, Any]) -> None:
        """The dashboard (rollups) and the naive aggregate (raw rows) agree on every count and
        sum; percentiles agree to within the histogram bucket holding the exact value."""
        volume = board.volume
        runs = naive["runs"]
        assert (volume["runs"], volume["succeeded"], volume["failed"], volume["cancelled"]) == (
            runs["n"],
            runs["ok"],
            runs["failed"],
            runs["cancelled"],
        ), (volume, runs)
        assert volume["runs"] == self.runs
        assert board.cost["tokens_in"] == naive["tokens_in"]
        assert board.cost["model_cost"] == naive["cost"]
        for q, exact in (("p50_ms", runs["p50"]), ("p95_ms", runs["p95"])):
            index = sum(1 for bound in BUCKET_BOUNDS_MS if bound <= exact)
            low = BUCKET_BOUNDS_MS[index - 1] if index else 0
            high = BUCKET_BOUNDS_MS[index] if index < len(BUCKET_BOUNDS_MS) else float("inf")
            assert low <= volume[q] <= high, (q, volume[q], exact)
        nodes = {row.label: row for row in board.nodes}
        for node_id, expected in naive["nodes"].items():
            row = nodes[node_id]
            assert row["steps"] == expected["n"], node_id
            assert row["avg_ms"] == pytest_approx(expected["avg_ms"]), node_id
            assert row["avg_wait_ms"] == pytest_approx(expected["avg_wait_ms"]), node_id
        models = {row.label: row["cost"] for row in board.models}
        assert models == naive["models"]
        versions = {row.label: row["runs"] for row in board.versions}
        assert versions == naive["versions"]


def pytest_approx(value: float) -> Any:
    import pytest

    return pytest.approx(value, rel=1e-9)


def _flow() -> tuple[Flow, list[FlowVersion]]:
    agents = [scripted("writer", "w"), scripted("checker", "c")]
    nodes = [
        node("n1", "agent", agent="writer"),
        node("n2", "agent", agent="checker"),
        node("n3", "approval", title="check", draft="{{ steps.n2.output }}"),
        node("n4", "agent", agent="writer"),
        node("n5", "end"),
    ]
    edges: list[tuple[str, str] | dict[str, Any]] = [
        ("n1", "n2"),
        ("n2", "n3"),
        ("n3", "n4"),
        ("n4", "n5"),
    ]
    versions = []
    for number in range(3):
        doc = document(
            "bench-roi",
            nodes,
            edges,
            agents=agents,
            description=f"synthetic benchmark flow, version {number + 1}",
            roi={"baseline_minutes": 15, "hourly_cost": 50, "success_outcome": ""},
        )
        flow = save(doc)
        versions.append(flow.versions.order_by("-number").first())
    return flow, [v for v in versions if v is not None]


def seed(*, steps: int, today: date) -> Seeded:
    """Seed ``steps`` synthetic steps (``steps // 5`` runs of one flow over the 90 days up to
    ``today``) and their rollups."""
    flow, versions = _flow()
    runs = steps // STEPS_PER_RUN
    start = today - timedelta(days=DAYS - 1)
    version_ids = "ARRAY[" + ",".join(str(v.id) for v in versions) + "]"
    # Run i: day i % 90, a status by i, an end-to-end duration between 0.5 s and ~10 min.
    run_source = f"""FROM (
        SELECT i, md5('bench-run-' || i)::uuid AS id,
               timestamptz '{start.isoformat()} 00:00:00+00'
                 + ((i % {DAYS}) * interval '1 day') + ((i * 7919 % 86000) * interval '1 second')
                 AS created,
               ((i * 37) % 600000 + 500) AS dur_ms
        FROM generate_series(1::bigint, {runs}) AS i) g"""
    _insert(
        "flows_run",
        {
            "id": "g.id",
            "flow_id": str(flow.id),
            "version_id": f"({version_ids})[1 + g.i % {len(versions)}]",
            "status": "CASE WHEN g.i % 20 = 0 THEN 'cancelled' WHEN g.i % 10 = 1 THEN 'failed' "
            "ELSE 'succeeded' END",
            "input": "'{}'::jsonb",
            "subject": "'lead-' || g.i",
            "error": "''",
            "root_run_id": "g.id",
            "created_at": "g.created",
            "started_at": "g.created",
            "finished_at": "g.created + g.dur_ms * interval '1 millisecond'",
            "tokens_in": "2 * (100 + g.i % 50)",
            "tokens_out": "2 * (50 + g.i % 30)",
            "cost": "2 * ((100 + g.i % 50) * 0.0005 + (50 + g.i % 30) * 0.0015) / 1000",
        },
        run_source,
    )
    node_array = "ARRAY[" + ",".join(f"'{n}'" for n, *_ in NODES) + "]"
    type_array = "ARRAY[" + ",".join(f"'{t}'" for _, t, *_ in NODES) + "]"
    agent_array = "ARRAY[" + ",".join(f"'{a}'" for _, _, a, _ in NODES) + "]"
    model_array = "ARRAY[" + ",".join(f"'{m}'" for *_, m in NODES) + "]"
    step_source = f"""FROM (
        SELECT g.i, k, g.id AS run_id, g.created + (k - 1) * interval '1 second' AS created,
               ((g.i * k * 31) % 2000) AS wait_ms,
               CASE WHEN k = 3 THEN (g.i * 13) % 3600000 ELSE (g.i * k * 17) % 20000 END
                 AS dur_ms,
               (k <= 2) AS is_agent
        FROM (SELECT i, md5('bench-run-' || i)::uuid AS id,
                     timestamptz '{start.isoformat()} 00:00:00+00'
                       + ((i % {DAYS}) * interval '1 day')
                       + ((i * 7919 % 86000) * interval '1 second') AS created
              FROM generate_series(1::bigint, {runs}) AS i) g,
             generate_series(1, {STEPS_PER_RUN}) AS k) s"""
    _insert(
        "flows_step",
        {
            "run_id": "s.run_id",
            "node_id": f"({node_array})[s.k]",
            "node_type": f"({type_array})[s.k]",
            "scope": "''",
            "status": "CASE WHEN s.k = 5 AND s.i % 10 = 1 THEN 'failed' ELSE 'succeeded' END",
            "attempt": "1",
            "max_attempts": "3",
            "input": f"""CASE WHEN s.is_agent
                THEN jsonb_build_object(
                    'agent_spec', jsonb_build_object('slug', ({agent_array})[s.k]))
                ELSE '{{}}'::jsonb END""",
            "error": "''",
            "error_class": "''",
            "idempotency_key": "s.run_id::text || ':' || s.k",
            "model": f"({model_array})[s.k]",
            "tokens_in": "CASE WHEN s.is_agent THEN 100 + s.i % 50 ELSE 0 END",
            "tokens_out": "CASE WHEN s.is_agent THEN 50 + s.i % 30 ELSE 0 END",
            "cost": "CASE WHEN s.is_agent THEN ((100 + s.i % 50) * 0.0005 "
            "+ (50 + s.i % 30) * 0.0015) / 1000 ELSE 0 END",
            "created_at": "s.created",
            "started_at": "s.created + s.wait_ms * interval '1 millisecond'",
            "finished_at": "s.created + (s.wait_ms + s.dur_ms) * interval '1 millisecond'",
        },
        step_source,
    )
    rollup_rows = _seed_rollups(flow.id)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE flows_run; ANALYZE flows_step; ANALYZE flows_roirollup")
    return Seeded(flow=flow, since=start, until=today, runs=runs, rollup_rows=rollup_rows)


def _buckets(ms: str) -> dict[str, str]:
    """The histogram columns: how many durations fall in each bucket (``bisect_right``)."""
    return {f"h{k:02d}": f"SUM((width_bucket({ms}, {_BOUNDS}) = {k})::int)" for k in range(BUCKETS)}


def _seed_rollups(flow_id: int) -> int:
    """The rollups of the seeded rows: what folding their facts would have produced."""
    ms = "(EXTRACT(EPOCH FROM ({end} - {start})) * 1000)::bigint"
    run_ms = ms.format(end="r.finished_at", start="r.created_at")
    step_ms = ms.format(end="s.finished_at", start="s.started_at")
    wait_ms = ms.format(end="s.started_at", start="s.created_at")
    day = "(timezone('UTC', r.created_at))::date"
    zero = {name: "0" for name in MEASURES}
    grains = [
        (
            "'run'",
            "''",
            "''",
            "flows_run r",
            zero
            | {
                "n": "COUNT(*)",
                "ok": "COUNT(*) FILTER (WHERE r.status = 'succeeded')",
                "failed": "COUNT(*) FILTER (WHERE r.status = 'failed')",
                "cancelled": "COUNT(*) FILTER (WHERE r.status = 'cancelled')",
                "duration_ms": f"SUM({run_ms})",
                "durations": "COUNT(*)",
                "tokens_in": "SUM(r.tokens_in)",
                "tokens_out": "SUM(r.tokens_out)",
                "cost": "SUM(r.cost)",
            }
            | _buckets(run_ms),
        ),
        (
            "'node'",
            "s.node_id",
            "s.node_type",
            "flows_step s JOIN flows_run r ON r.id = s.run_id",
            zero
            | {
                "n": "COUNT(*)",
                "ok": "COUNT(*) FILTER (WHERE s.status = 'succeeded')",
                "failed": "COUNT(*) FILTER (WHERE s.status = 'failed')",
                "duration_ms": f"SUM({step_ms})",
                "durations": "COUNT(*)",
                "wait_ms": f"SUM({wait_ms})",
                "waits": "COUNT(*)",
            }
            | _buckets(step_ms),
        ),
        (
            "'usage'",
            "s.input->'agent_spec'->>'slug'",
            "s.model",
            "flows_step s JOIN flows_run r ON r.id = s.run_id",
            zero
            | {
                "n": "COUNT(*)",
                "tokens_in": "SUM(s.tokens_in)",
                "tokens_out": "SUM(s.tokens_out)",
                "cost": "SUM(s.cost)",
            },
        ),
    ]
    total = 0
    with connection.cursor() as cursor:
        for grain, key, key2, source, sums in grains:
            where = f"r.flow_id = {flow_id}"
            if grain == "'usage'":
                where += " AND (s.tokens_in > 0 OR s.tokens_out > 0 OR s.cost > 0)"
            cursor.execute(
                f"""INSERT INTO flows_roirollup (flow_id, version_id, day, grain, key, key2,
                                                 {", ".join(MEASURES)})
                    SELECT r.flow_id, r.version_id, {day}, {grain}, {key}, {key2},
                           {", ".join(sums[name] for name in MEASURES)}
                    FROM {source} WHERE {where}
                    GROUP BY 1, 2, 3, 4, 5, 6"""
            )
            total += cursor.rowcount
    return total


def naive_dashboard(*, flow_id: int, since: date, until: date) -> dict[str, Any]:
    """The dashboard's volume, cost, version and bottleneck numbers straight from the raw
    runs and steps (exact percentiles), the way a page without rollups would compute them."""
    start, end = since, until + timedelta(days=1)
    params: list[Any] = [flow_id, start, end]
    scope = "r.flow_id = %s AND r.created_at >= %s AND r.created_at < %s"
    run_ms = "EXTRACT(EPOCH FROM (r.finished_at - r.created_at)) * 1000"
    with connection.cursor() as cursor:
        cursor.execute(
            f"""SELECT COUNT(*), COUNT(*) FILTER (WHERE r.status = 'succeeded'),
                       COUNT(*) FILTER (WHERE r.status = 'failed'),
                       COUNT(*) FILTER (WHERE r.status = 'cancelled'),
                       percentile_cont(0.5) WITHIN GROUP (ORDER BY {run_ms}),
                       percentile_cont(0.95) WITHIN GROUP (ORDER BY {run_ms})
                FROM flows_run r
                WHERE {scope} AND r.status IN ('succeeded', 'failed', 'cancelled')""",
            params,
        )
        n, ok, failed, cancelled, p50, p95 = cursor.fetchone()
        cursor.execute(
            f"""SELECT v.number, COUNT(*) FROM flows_run r JOIN flows_flowversion v
                  ON v.id = r.version_id WHERE {scope} GROUP BY v.number""",
            params,
        )
        versions = {f"v{number}": count for number, count in cursor.fetchall()}
        cursor.execute(
            f"""SELECT (timezone('UTC', r.created_at))::date, r.status, COUNT(*)
                FROM flows_run r WHERE {scope} GROUP BY 1, 2""",
            params,
        )
        cursor.fetchall()  # the daily trend: computed, as the page would, though not compared
        cursor.execute(
            f"""SELECT s.node_id, COUNT(*),
                       AVG(EXTRACT(EPOCH FROM (s.finished_at - s.started_at)) * 1000),
                       AVG(EXTRACT(EPOCH FROM (s.started_at - s.created_at)) * 1000),
                       percentile_cont(0.95) WITHIN GROUP
                         (ORDER BY EXTRACT(EPOCH FROM (s.finished_at - s.started_at)))
                FROM flows_step s JOIN flows_run r ON r.id = s.run_id
                WHERE {scope} GROUP BY s.node_id""",
            params,
        )
        nodes = {
            row[0]: {"n": row[1], "avg_ms": float(row[2]), "avg_wait_ms": float(row[3])}
            for row in cursor.fetchall()
        }
        cursor.execute(
            f"""SELECT s.model, SUM(s.tokens_in), SUM(s.cost)
                FROM flows_step s JOIN flows_run r ON r.id = s.run_id
                WHERE {scope} AND (s.tokens_in > 0 OR s.tokens_out > 0 OR s.cost > 0)
                GROUP BY s.model""",
            params,
        )
        usage = cursor.fetchall()
    return {
        "runs": {
            "n": n,
            "ok": ok,
            "failed": failed,
            "cancelled": cancelled,
            "p50": float(p50 or 0),
            "p95": float(p95 or 0),
        },
        "versions": versions,
        "nodes": nodes,
        "models": {model: Decimal(cost) for model, _, cost in usage},
        "tokens_in": sum(tokens for _, tokens, _ in usage),
        "cost": sum((Decimal(cost) for *_, cost in usage), Decimal(0)),
    }
