"""The numbers behind ``/metrics`` and ``/api/metrics``, computed when they are asked for.

Why at scrape time: the web, websocket and worker processes are many and come and go, so
in-process counters would each hold a slice (prometheus_client's multiprocess mode needs a
shared directory and loses counts when a pod goes). The state already lives in PostgreSQL
and Redis: counting rows there at scrape time is exact whichever process answers, survives
restarts, and costs nothing on the engine's hot path. Counters are counts of rows in terminal
states, so they only grow (unless old runs are deleted — Prometheus treats that as a reset).

Apps register *sources* (``register``) in their ``AppConfig.ready``; a source returns metric
families. This module knows no app. A source that fails is reported as
``controlroom_metrics_source_up{source=...} 0`` instead of failing the whole scrape.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

logger = logging.getLogger(__name__)

Kind = Literal["counter", "gauge", "histogram"]


@dataclass(frozen=True)
class Sample:
    labels: dict[str, str]
    value: float


@dataclass(frozen=True)
class HistogramSample:
    labels: dict[str, str]
    #: ``(upper bound, cumulative count)`` pairs, ascending, the last one ``+Inf``.
    buckets: Sequence[tuple[float, float]]
    count: float
    sum: float


@dataclass(frozen=True)
class Family:
    """One metric. Counter names carry no ``_total``: the exposition adds it."""

    name: str
    kind: Kind
    help: str
    labels: tuple[str, ...] = ()
    samples: list[Sample] = field(default_factory=list)
    histograms: list[HistogramSample] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """The JSON shape of ``/api/metrics``: the sample names Prometheus shows, same values."""
        out: dict[str, Any] = {"name": self.name, "type": self.kind, "help": self.help}
        if self.kind == "counter":
            out["samples"] = [
                {"name": self.name + "_total", "labels": s.labels, "value": s.value}
                for s in self.samples
            ]
        elif self.kind == "gauge":
            out["samples"] = [
                {"name": self.name, "labels": s.labels, "value": s.value} for s in self.samples
            ]
        else:
            out["samples"] = [
                {
                    "labels": h.labels,
                    "buckets": [{"le": _le(bound), "count": count} for bound, count in h.buckets],
                    "count": h.count,
                    "sum": h.sum,
                }
                for h in self.histograms
            ]
        return out


def _le(bound: float) -> str:
    return "+Inf" if bound == float("inf") else repr(float(bound))


Source = Callable[[], Iterable[Family]]
_SOURCES: dict[str, Source] = {}


def register(name: str, source: Source) -> None:
    """Add (or replace) the source called ``name``. Idempotent."""
    _SOURCES[name] = source


def collect() -> list[Family]:
    """Every registered source's families, plus whether each source answered."""
    families: list[Family] = []
    up = Family(
        "controlroom_metrics_source_up",
        "gauge",
        "1 if the metrics source answered this scrape, 0 if it failed (see the logs).",
        ("source",),
    )
    for name, source in sorted(_SOURCES.items()):
        try:
            families += list(source())
        except Exception:
            logger.exception("metrics source %r failed", name)
            up.samples.append(Sample({"source": name}, 0.0))
        else:
            up.samples.append(Sample({"source": name}, 1.0))
    families.append(up)
    return families


def snapshot() -> list[dict[str, Any]]:
    """``collect()`` as JSON-ready dicts."""
    return [family.as_dict() for family in collect()]
