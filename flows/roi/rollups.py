"""Folding ROI facts into per-day rollups, and reading rollups plus unfolded facts.

``rollup_fold`` moves facts into ``RoiRollup`` in one statement: ``DELETE … RETURNING`` the
oldest facts, group them by (flow, version, UTC day of the run's start, grain, key, key2) and
``INSERT … ON CONFLICT DO UPDATE SET x = x + EXCLUDED.x``. Deleting and adding happen in one
transaction, so each fact is counted exactly once, whatever crashes; facts of transactions
not committed yet are invisible to the DELETE and are folded on a later pass (no horizon to
track, unlike an id cursor over a log whose ids commit out of order). A transaction-level
advisory lock keeps folds single-flight; groups are upserted in key order, so even two folders
could not deadlock. The Celery beat runs ``flows.roi_fold`` every ``ROLLUP_FOLD_SECONDS``.

``rollup_rows`` reads ``RoiRollup`` UNION ALL the facts not folded yet (joined to their runs)
in one grouped query: a read is exact at its snapshot, never behind, and costs an index range
scan over the rollup rows plus the few seconds' worth of unfolded facts.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from django.db import connection, transaction

from flows.roi.models import MEASURES, MONEY_FIELDS

FOLD_LOCK = 0x526F6931  # "Roi1": the advisory lock id of the fold
FOLD_BATCH = 50_000
DIMENSIONS = ("flow_id", "version_id", "day", "grain", "key", "key2")
_FACT_DAY = "(timezone('UTC', r.created_at))::date"
# Durations' sketches merge by adding counts (flows.roi.sketch; SQL in migration 0012).
SKETCH_SUM = "COALESCE(flows_sketch_sum({0}sketch) FILTER (WHERE {0}sketch <> '{{}}'), '{{}}')"


@dataclass
class Cell:
    """Summed measures of one group (attribute access by measure name); ``values["sketch"]``
    is the group's merged durations sketch (a dict, empty when no duration was counted)."""

    dims: dict[str, Any]
    values: dict[str, Any] = field(default_factory=dict)

    def __getattr__(self, name: str) -> Any:
        try:
            return self.__dict__["values"][name]
        except KeyError:
            raise AttributeError(name) from None


def rollup_fold(*, batch: int = FOLD_BATCH) -> int:
    """Fold up to ``batch`` of the oldest facts into the rollups; return how many. Returns 0
    at once when another fold holds the lock. Idempotent and safe to run at any time."""
    sums = ", ".join(f"SUM(m.{name})" for name in MEASURES)
    updates = ", ".join(f"{name} = flows_roirollup.{name} + EXCLUDED.{name}" for name in MEASURES)
    updates += ", sketch = flows_sketch_merge(flows_roirollup.sketch, EXCLUDED.sketch)"
    sql = f"""
        WITH moved AS (
            DELETE FROM flows_roifact
            WHERE id IN (SELECT id FROM flows_roifact ORDER BY id LIMIT %s)
            RETURNING *
        ), folded AS (
            INSERT INTO flows_roirollup (flow_id, version_id, day, grain, key, key2,
                                         {", ".join(MEASURES)}, sketch)
            SELECT r.flow_id, r.version_id, {_FACT_DAY}, m.grain, m.key, m.key2, {sums},
                   {SKETCH_SUM.format("m.")}
            FROM moved m JOIN flows_run r ON r.id = m.run_id
            GROUP BY 1, 2, 3, 4, 5, 6
            ORDER BY 1, 2, 3, 4, 5, 6
            ON CONFLICT (flow_id, version_id, day, grain, key, key2) DO UPDATE SET {updates}
            RETURNING 1
        )
        SELECT (SELECT COUNT(*) FROM moved), (SELECT COUNT(*) FROM folded)
    """
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [FOLD_LOCK])
        if not cursor.fetchone()[0]:
            return 0
        cursor.execute(sql, [batch])
        moved, _ = cursor.fetchone()
    return int(moved)


def rollup_fold_all() -> int:
    """Fold until no fact is left (the periodic task; also used by the benchmark seeding)."""
    total = 0
    while True:
        moved = rollup_fold()
        total += moved
        if moved < FOLD_BATCH:
            return total


def rollup_rows(
    *,
    since: date,
    until: date,
    flow_id: int | None = None,
    by: tuple[str, ...] = DIMENSIONS,
    grains: tuple[str, ...] | None = None,
) -> list[Cell]:
    """Sums of every measure for runs started on UTC days ``since``..``until`` (inclusive),
    grouped by ``by`` (a subset of ``DIMENSIONS``), folded and unfolded facts together."""
    for name in by:
        if name not in DIMENSIONS:
            raise ValueError(f"unknown dimension {name!r}")
    params: list[Any] = [since, until]
    where_rollup = "day BETWEEN %s AND %s"
    where_fact = f"{_FACT_DAY} BETWEEN %s AND %s"
    if flow_id is not None:
        where_rollup += " AND flow_id = %s"
        where_fact += " AND r.flow_id = %s"
        params.append(flow_id)
    if grains is not None:
        where_rollup += " AND grain = ANY(%s)"
        where_fact += " AND m.grain = ANY(%s)"
        params.append(list(grains))
    measures = ", ".join(MEASURES)
    fact_measures = ", ".join(f"m.{name}" for name in MEASURES)
    group = ", ".join(by)
    # Counts come back as bigint (SUM of bigint is numeric, slow to decode); money as numeric.
    sums = ", ".join(
        f"SUM({name})" if name in MONEY_FIELDS else f"SUM({name})::bigint" for name in MEASURES
    )
    sql = f"""
        SELECT {group + ", " if by else ""}{sums}, {SKETCH_SUM.format("")}
        FROM (
            SELECT {", ".join(DIMENSIONS)}, {measures}, sketch
            FROM flows_roirollup WHERE {where_rollup}
            UNION ALL
            SELECT r.flow_id, r.version_id, {_FACT_DAY} AS day, m.grain, m.key, m.key2,
                   {fact_measures}, m.sketch
            FROM flows_roifact m JOIN flows_run r ON r.id = m.run_id
            WHERE {where_fact}
        ) cells
        {"GROUP BY " + group if by else ""}
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, params + params)
        rows = cursor.fetchall()
    width = len(by)
    cells = []
    for row in rows:
        if row[width] is None:  # no rows at all (an ungrouped sum over nothing)
            zeros = (Decimal(0) if n in MONEY_FIELDS else 0 for n in MEASURES)
            row = (*row[:width], *zeros, {})
        dims = dict(zip(by, row[:width], strict=True))
        values = dict(zip((*MEASURES, "sketch"), row[width:], strict=True))
        if isinstance(values["sketch"], str):  # Django's connection loads jsonb as text
            values["sketch"] = json.loads(values["sketch"])
        cells.append(Cell(dims, values))
    return cells
