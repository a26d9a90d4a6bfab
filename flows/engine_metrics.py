"""The engine's metrics source for ``/metrics`` and ``/api/metrics``
(``controlroom.observability.metrics``): read from PostgreSQL and Redis when scraped.

Everything that only grows — runs and steps that ended, the step latency histogram, tokens and
cost by model — comes from the ROI rollups plus the facts not folded yet
(``flows.roi.rollups.rollup_rows``): each fact is written in the transaction that ended the run
or step, so the sums are exact at any moment, and reading them costs the same on a thousand
steps as on ten million. What is in flight now (active runs and steps, the queues, the workers)
is counted live through the status indexes and Redis. ``tests/bench/test_observability_bench.py``
measures a scrape against one plain scan of the step table.

Steps reused from an earlier run by a retry did no work and are not counted; a step's duration
is from its claim to its end, in whole milliseconds; a step born finished (an end, a skip) has
no duration.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Iterable
from datetime import date

from django.db.models import Count
from django.utils import timezone

from controlroom.observability.metrics import Family, HistogramSample, Sample
from flows import home
from flows.models import Approval, Flow, Run, Step
from flows.roi.models import BUCKET_BOUNDS_MS, BUCKET_FIELDS, Grain
from flows.roi.rollups import Cell, rollup_rows
from flows.states import RUN_ACTIVE, STEP_ACTIVE, ApprovalStatus

#: Every day a run can have started on: the counters cover all of history.
ALL_TIME = (date(1970, 1, 1), date(9999, 12, 31))
#: Rollup measure → the terminal status it counts.
ENDED = {"ok": "succeeded", "failed": "failed", "cancelled": "cancelled", "skipped": "skipped"}


def engine_metrics() -> Iterable[Family]:
    yield from _runs()
    yield from _steps()
    yield from _usage()
    yield from _health()
    yield Family(
        "controlroom_approvals_pending",
        "gauge",
        "Approvals waiting for a decision.",
        samples=[Sample({}, float(Approval.objects.filter(status=ApprovalStatus.PENDING).count()))],
    )


def _cells(grain: Grain, by: str) -> list[Cell]:
    since, until = ALL_TIME
    return rollup_rows(since=since, until=until, by=(by,), grains=(str(grain),))


def _runs() -> Iterable[Family]:
    slugs = dict(Flow.objects.values_list("id", "slug"))
    started: dict[str, float] = defaultdict(float)
    finished = Family(
        "controlroom_runs_finished",
        "counter",
        "Runs that reached a terminal state, by flow and status.",
        ("flow", "status"),
    )
    for cell in sorted(
        _cells(Grain.RUN, "flow_id"), key=lambda c: slugs.get(c.dims["flow_id"], "")
    ):
        slug = slugs.get(cell.dims["flow_id"], str(cell.dims["flow_id"]))
        started[slug] += float(cell.n)
        for measure in ("ok", "failed", "cancelled"):
            labels = {"flow": slug, "status": ENDED[measure]}
            finished.samples.append(Sample(labels, float(getattr(cell, measure))))
    active = Family(
        "controlroom_runs_active",
        "gauge",
        "Runs not yet ended, by status.",
        ("status",),
    )
    per_status: dict[str, float] = dict.fromkeys(sorted(s.value for s in RUN_ACTIVE), 0.0)
    rows = Run.objects.filter(status__in=RUN_ACTIVE).values_list("flow_id", "status")
    for flow_id, status, n in rows.annotate(n=Count("id")).order_by():
        started[slugs.get(flow_id, str(flow_id))] += n
        per_status[status] += n
    active.samples.extend(Sample({"status": status}, n) for status, n in per_status.items())
    yield Family(
        "controlroom_runs_started",
        "counter",
        "Runs created, by flow (ended plus in flight).",
        ("flow",),
        [Sample({"flow": slug}, n) for slug, n in sorted(started.items())],
    )
    yield finished
    yield active


def _steps() -> Iterable[Family]:
    finished = Family(
        "controlroom_steps_finished",
        "counter",
        "Steps that reached a terminal state, by node type and status (reused outputs aside).",
        ("node_type", "status"),
    )
    latency = Family(
        "controlroom_step_duration_seconds",
        "histogram",
        "How long executed steps took, from claim to completion, by node type.",
        ("node_type",),
    )
    bounds = [*(ms / 1000 for ms in BUCKET_BOUNDS_MS), float("inf")]
    for cell in sorted(_cells(Grain.NODE, "key2"), key=lambda c: str(c.dims["key2"])):
        node_type = str(cell.dims["key2"])
        for measure, status in ENDED.items():
            labels = {"node_type": node_type, "status": status}
            finished.samples.append(Sample(labels, float(getattr(cell, measure))))
        if cell.durations:
            counts = itertools.accumulate(float(getattr(cell, name)) for name in BUCKET_FIELDS)
            latency.histograms.append(
                HistogramSample(
                    {"node_type": node_type},
                    list(zip(bounds, counts, strict=True)),
                    float(cell.durations),
                    cell.duration_ms / 1000,
                )
            )
    active = Family(
        "controlroom_steps_active",
        "gauge",
        "Steps queued, running or waiting, by node type and status.",
        ("node_type", "status"),
    )
    rows = (
        Step.objects.filter(status__in=STEP_ACTIVE)  # the partial index of active steps
        .values_list("node_type", "status")
        .annotate(n=Count("id"))
        .order_by("node_type", "status")
    )
    active.samples.extend(
        Sample({"node_type": node_type, "status": status}, float(n))
        for node_type, status, n in rows
    )
    return [finished, active, latency]


def _usage() -> Iterable[Family]:
    tokens = Family(
        "controlroom_model_tokens",
        "counter",
        "Model tokens used by steps, by model and direction (input, output).",
        ("model", "direction"),
    )
    cost = Family(
        "controlroom_model_cost",
        "counter",
        "Model spend by steps in the installation's currency, by model.",
        ("model",),
    )
    for cell in sorted(_cells(Grain.USAGE, "key2"), key=lambda c: str(c.dims["key2"])):
        model = str(cell.dims["key2"]) or "unknown"
        tokens.samples.append(Sample({"model": model, "direction": "input"}, float(cell.tokens_in)))
        tokens.samples.append(
            Sample({"model": model, "direction": "output"}, float(cell.tokens_out))
        )
        cost.samples.append(Sample({"model": model}, float(cell.cost)))
    return [tokens, cost]


def _health() -> Iterable[Family]:
    depths = home.queue_depths()
    yield Family(
        "controlroom_queue_depth",
        "gauge",
        "Messages waiting in each Celery queue (Redis LLEN); absent when Redis is unreachable.",
        ("queue",),
        [Sample({"queue": q}, float(n)) for q, n in depths.items() if n is not None],
    )
    yield Family(
        "controlroom_workers_live",
        "gauge",
        "Celery workers whose liveness key is fresh.",
        samples=[Sample({}, float(len(home.live_workers())))],
    )
    oldest = home.oldest_queued_at()
    age = (timezone.now() - oldest).total_seconds() if oldest is not None else 0.0
    yield Family(
        "controlroom_oldest_queued_step_age_seconds",
        "gauge",
        "How long the longest-waiting due step has been queued (0 when none is).",
        samples=[Sample({}, max(age, 0.0))],
    )


def register() -> None:
    from controlroom.observability import metrics

    metrics.register("engine", engine_metrics)
