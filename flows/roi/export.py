"""The dashboard as data: JSON for the API and the charts, CSV for each of its tables.

The page, the API and the CSV export all render the same ``Dashboard`` (``flows.roi.selectors``),
so a number cannot differ between them.
"""

from __future__ import annotations

import csv
import io
from dataclasses import asdict
from decimal import Decimal
from typing import Any

from flows.roi.selectors import Dashboard, Row

TABLES = (
    "summary",
    "days",
    "versions",
    "agents",
    "models",
    "tools",
    "outcomes",
    "reasons",
    "nodes",
)


def plain(value: Any) -> Any:
    """Decimals as strings (exact), floats rounded for reading, the rest unchanged."""
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    if isinstance(value, float):
        return round(value, 4)
    return value


def _rows(rows: list[Row], label: str) -> list[dict[str, Any]]:
    return [{label: row.label, **{k: plain(v) for k, v in row.values.items()}} for row in rows]


def summary(board: Dashboard) -> dict[str, Any]:
    value = {k: plain(v) for k, v in asdict(board.value).items()}
    return {
        "volume": {k: plain(v) for k, v in board.volume.items()},
        "cost": {k: plain(v) for k, v in board.cost.items()},
        "value": value,
        "quality": {k: plain(v) for k, v in board.quality.items()},
        "definition": {
            "baseline_minutes": plain(board.definition.baseline_minutes),
            "hourly_cost": plain(board.definition.hourly_cost),
            "success_outcome": board.definition.success_outcome or None,
            "cases": board.definition.cases_rule,
        },
    }


def dashboard_dict(board: Dashboard) -> dict[str, Any]:
    return {
        "flow": board.flow.slug,
        "since": board.since.isoformat(),
        "until": board.until.isoformat(),
        **summary(board),
        "days": _rows(board.days, "day"),
        "versions": _rows(board.versions, "version"),
        "agents": _rows(board.agents, "agent"),
        "models": _rows(board.models, "model"),
        "tools": _rows(board.tools, "tool"),
        "outcomes": _rows(board.outcomes, "metric"),
        "reasons": _rows(board.reasons, "reason"),
        "nodes": _rows(board.nodes, "node"),
    }


def dashboard_csv(board: Dashboard, table: str) -> str:
    """One table of the dashboard as CSV (``summary``: section, metric, value lines)."""
    if table not in TABLES:
        raise ValueError(f"table: choose one of {', '.join(TABLES)}")
    out = io.StringIO()
    if table == "summary":
        writer = csv.writer(out)
        writer.writerow(["section", "metric", "value"])
        for section, values in summary(board).items():
            for name, value in values.items():
                writer.writerow([section, name, "" if value is None else value])
        return out.getvalue()
    rows = dashboard_dict(board)[table]
    if not rows:
        return ""
    dict_writer = csv.DictWriter(out, fieldnames=list(rows[0]))
    dict_writer.writeheader()
    for row in rows:
        dict_writer.writerow({k: "" if v is None else v for k, v in row.items()})
    return out.getvalue()


def leaderboard_csv(rows: list[Row]) -> str:
    out = io.StringIO()
    plain = _rows(rows, "flow")
    if plain:
        writer = csv.DictWriter(out, fieldnames=list(plain[0]))
        writer.writeheader()
        for row in plain:
            writer.writerow({k: "" if v is None else v for k, v in row.items()})
    return out.getvalue()


def chart_data(board: Dashboard) -> dict[str, Any]:
    """What static/js/roi.js draws (the same numbers as the tables beside the charts)."""
    return {
        "days": [row.label for row in board.days],
        "succeeded": [row["succeeded"] for row in board.days],
        "failed": [row["failed"] for row in board.days],
        "cancelled": [row["cancelled"] for row in board.days],
        "net_roi": [float(row["net_roi"]) for row in board.days],
        "ai_cost": [float(row["ai_cost"]) for row in board.days],
        "models": [row.label for row in board.models],
        "model_cost": [float(row["cost"]) for row in board.models],
        "versions": [row.label for row in board.versions],
        "version_runs": [row["runs"] for row in board.versions],
        "version_success": [
            round(row["success_rate"] * 100, 1) if row["success_rate"] is not None else None
            for row in board.versions
        ],
        "version_net_roi": [float(row["net_roi"]) for row in board.versions],
    }
