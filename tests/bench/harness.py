"""The benchmark harness: alternating rounds, sample summaries, one JSON per benchmark and the
summary table.

Every benchmark measures its subject against a comparator in the same run, alternating rounds
(comparator, subject, comparator, subject…) so that a neighbour's load on the shared machine
hits both sides alike; the ratio is what carries across machines. ``record`` writes
``.data/bench/<name>.json`` (the rounds, a summary of the raw samples, the ratio and the target,
the git commit and the machine's cores); ``tests/bench/conftest.py`` prints the table of every
benchmark recorded in the session and writes it to ``.data/bench/summary.md``.

A missed target is a result (marked in the table), not a failure: a benchmark fails only when
it cannot measure (a run that does not succeed, a server that does not answer).
"""

from __future__ import annotations

import concurrent.futures
import json
import math
import os
import re
import statistics
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
OUT_DIR = REPO_ROOT / ".data" / "bench"
# Raw samples are kept in the JSON up to this many per side; beyond it, only their summary.
RAW_SAMPLES_KEPT = 400
TIMES = "\u00d7"  # the multiplication sign of ratios in the table

#: Every benchmark recorded by this process, in order (the session's summary table).
RECORDED: list[Path] = []
#: Benchmarks that failed in this session: (benchmark, what failed).
FAILED: list[tuple[str, str]] = []


def knob(name: str, default: float) -> float:
    """A size or round count from the environment (``BENCH_*``), so `make bench` stays bounded
    by default and can be made longer or shorter without editing code."""
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError:
        raise ValueError(f"{name} must be a number, got {raw!r}") from None


def int_knob(name: str, default: int) -> int:
    return max(1, int(knob(name, default)))


def sized(name: str, size: int) -> str:
    """A benchmark's name with its size (``roi_dashboard_1m``), one JSON per size."""
    if size >= 1_000_000 and size % 1_000_000 == 0:
        return f"{name}_{size // 1_000_000}m"
    return f"{name}_{size}"


def in_thread[T](call: Callable[[], T]) -> T:
    """``call()`` in a new thread, its result or exception returned or raised here: for
    ``asyncio.run`` when this thread may already run an event loop (Playwright's)."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(call).result()


# --- samples ------------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) by linear interpolation between closest ranks."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summary(values: Sequence[float]) -> dict[str, Any]:
    """Count, spread and percentiles of ``values``; the raw values too when there are few."""
    if not values:
        return {"count": 0}
    out: dict[str, Any] = {
        "count": len(values),
        "min": min(values),
        "p50": percentile(values, 50),
        "mean": statistics.fmean(values),
        "p90": percentile(values, 90),
        "p99": percentile(values, 99),
        "max": max(values),
        "stdev": statistics.stdev(values) if len(values) > 1 else 0.0,
    }
    if len(values) <= RAW_SAMPLES_KEPT:
        out["raw"] = list(values)
    return out


@dataclass
class Rounds:
    """The samples of both sides of an alternating benchmark, round by round."""

    comparator: list[float] = field(default_factory=list)
    ours: list[float] = field(default_factory=list)
    order: list[str] = field(default_factory=list)

    @property
    def count(self) -> int:
        return min(len(self.comparator), len(self.ours))


def alternate(
    rounds: int, comparator: Callable[[int], float], ours: Callable[[int], float]
) -> Rounds:
    """Run ``comparator(i)`` then ``ours(i)`` for each round ``i``; each returns one sample."""
    result = Rounds()
    for i in range(rounds):
        result.comparator.append(comparator(i))
        result.order.append("comparator")
        result.ours.append(ours(i))
        result.order.append("ours")
    return result


# --- targets and measures ----------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """What a measure must reach: ``on`` the ratio (ours ÷ comparator) or ours' own value,
    at most (``<=``) or at least (``>=``) ``bound``."""

    on: str  # "ratio" | "ours"
    op: str  # "<=" | ">="
    bound: float
    unit: str = ""

    def met(self, ours: float, ratio: float | None) -> bool | None:
        value = ratio if self.on == "ratio" else ours
        if value is None or math.isnan(value):
            return None
        return value <= self.bound if self.op == "<=" else value >= self.bound

    def text(self) -> str:
        sign = "≤" if self.op == "<=" else "≥"
        if self.on == "ratio":
            return f"{sign} {self.bound:g}{TIMES}"
        return f"{sign} {self.bound:g} {self.unit}".rstrip()


@dataclass
class Measure:
    """One row of the table. ``ours``/``comparator`` are the headline numbers (usually
    medians of the samples); ``ratio`` is ours ÷ comparator."""

    measure: str
    unit: str
    ours: float
    comparator: float | None = None
    target: Target | None = None
    ours_samples: Sequence[float] = ()
    comparator_samples: Sequence[float] = ()
    comparator_label: str = ""
    note: str = ""

    @property
    def ratio(self) -> float | None:
        if self.comparator is None or self.comparator == 0:
            return None
        return self.ours / self.comparator

    @property
    def met(self) -> bool | None:
        return None if self.target is None else self.target.met(self.ours, self.ratio)

    def as_dict(self) -> dict[str, Any]:
        return {
            "measure": self.measure,
            "unit": self.unit,
            "ours": self.ours,
            "comparator": self.comparator,
            "comparator_label": self.comparator_label,
            "ratio": self.ratio,
            "target": self.target.text() if self.target else None,
            "target_met": self.met,
            "note": self.note,
            "samples": {
                "ours": summary(list(self.ours_samples)),
                "comparator": summary(list(self.comparator_samples)),
            },
        }


# --- recording ----------------------------------------------------------------------------------


def git_state() -> dict[str, Any]:
    """The commit measured, and whether the working tree differed from it (other engineers
    edit the same tree: a dirty tree means the numbers include uncommitted changes)."""

    def git(*args: str) -> str:
        try:
            return subprocess.run(
                ["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=30
            ).stdout
        except (OSError, subprocess.SubprocessError):
            return ""

    changed = [line[3:] for line in git("status", "--porcelain").splitlines() if line.strip()]
    commit = git("rev-parse", "HEAD").strip()
    return {"commit": commit, "dirty": bool(changed), "changed_files": changed}


def machine() -> dict[str, Any]:
    return {"cores": os.cpu_count(), "load_average": list(os.getloadavg())}


@dataclass
class Benchmark:
    """One benchmark's record; ``save()`` writes its JSON. Use as a context manager around
    the measuring code to stamp start and end times and the load average at both ends."""

    name: str
    title: str
    settings: dict[str, Any] = field(default_factory=dict)
    measures: list[Measure] = field(default_factory=list)
    rounds: int = 0
    order: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    started: float = field(default_factory=time.time)
    load_start: list[float] = field(default_factory=lambda: list(os.getloadavg()))

    def add(self, measure: Measure) -> Measure:
        self.measures.append(measure)
        return measure

    def save(self) -> Path:
        OUT_DIR.mkdir(parents=True, exist_ok=True)
        path = OUT_DIR / f"{self.name}.json"
        data = {
            "benchmark": self.name,
            "title": self.title,
            "started_at": _iso(self.started),
            "finished_at": _iso(time.time()),
            "seconds": round(time.time() - self.started, 1),
            **git_state(),
            "machine": {**machine(), "load_average_at_start": self.load_start},
            "settings": self.settings,
            "rounds": self.rounds,
            "round_order": self.order,
            "measures": [measure.as_dict() for measure in self.measures],
            "notes": self.notes,
            **({"extra": self.extra} if self.extra else {}),
        }
        path.write_text(_compact_numbers(json.dumps(data, indent=2, default=str)) + "\n")
        if path not in RECORDED:
            RECORDED.append(path)
        print(f"\n{self.title}\n" + "\n".join(table_rows([data])))
        return path


def _compact_numbers(text: str) -> str:
    """Lists of numbers (the raw samples) on one line each, not one number per line."""
    return re.sub(
        r"\[\s+([-+0-9.eE,\s]+?)\s+\]", lambda m: "[" + " ".join(m.group(1).split()) + "]", text
    )


def _iso(stamp: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(stamp))


# --- the table ----------------------------------------------------------------------------------

HEADER = [
    "| benchmark | measure | ours | comparator | ratio | target |",
    "|---|---|---:|---:|---:|---|",
]


def number(value: float | None, unit: str = "") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    magnitude = abs(value)
    if float(value).is_integer() and magnitude < 1e9:
        text = f"{int(value):,}"
    elif magnitude >= 1000:
        text = f"{value:,.0f}"
    elif magnitude >= 100:
        text = f"{value:.0f}"
    elif magnitude >= 10:
        text = f"{value:.1f}"
    else:
        text = f"{value:.2f}"
    return f"{text} {unit}".rstrip()


def table_rows(records: list[dict[str, Any]]) -> list[str]:
    rows: list[str] = []
    for record in records:
        for m in record["measures"]:
            comparator = number(m["comparator"], m["unit"])
            if m["comparator"] is not None and m.get("comparator_label"):
                comparator = f"{comparator} ({m['comparator_label']})"
            ratio = "—" if m["ratio"] is None else f"{m['ratio']:.2f}{TIMES}"
            target = m["target"] or "—"
            if m["target_met"] is not None:
                target += " ✓" if m["target_met"] else " ✗ missed"
            rows.append(
                f"| {record['benchmark']} | {m['measure']} | {number(m['ours'], m['unit'])} "
                f"| {comparator} | {ratio} | {target} |"
            )
    return rows


def summary_table(paths: Sequence[Path], failed: Sequence[tuple[str, str]] = ()) -> str:
    records = [json.loads(path.read_text()) for path in paths if path.exists()]
    lines = list(HEADER) + table_rows(records)
    lines += [f"| {name} | FAILED: {what} | — | — | — | — |" for name, what in failed]
    if records:
        first = records[0]
        commits = {record["commit"][:12] for record in records}
        dirty = any(record["dirty"] for record in records)
        lines += [
            "",
            f"commit {', '.join(sorted(commits))}{' (working tree had changes)' if dirty else ''}"
            f"; {first['machine']['cores']} cores; {time.strftime('%Y-%m-%d %H:%M')}; "
            "ours and comparator are medians of alternating rounds unless the measure says "
            "otherwise; each JSON in .data/bench/ holds the samples.",
        ]
    return "\n".join(lines)
