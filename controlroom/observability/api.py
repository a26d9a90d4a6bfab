"""``GET /api/metrics``: the numbers of ``/metrics`` as JSON, for API clients (bearer token or
session like the rest of ``/api``; any role that may view)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.http import HttpRequest
from django.utils import timezone
from ninja import Router, Schema

from controlroom.api import ERRORS, requires
from controlroom.observability import metrics
from controlroom.roles import Capability

router = Router(tags=["metrics"], auth=requires(Capability.VIEW))


class MetricOut(Schema):
    name: str
    type: str
    help: str
    samples: list[dict[str, Any]]


class MetricsOut(Schema):
    generated_at: datetime
    metrics: list[MetricOut]


@router.get(
    "/metrics",
    response={200: MetricsOut, **ERRORS},
    summary="Engine metrics as JSON",
    description=(
        "The numbers `/metrics` exposes to Prometheus, computed from PostgreSQL and Redis at "
        "request time: counters carry the `_total` sample names, histograms their cumulative "
        "buckets (`le`), `count` and `sum`."
    ),
)
def metrics_get(request: HttpRequest) -> dict[str, Any]:
    return {"generated_at": timezone.now(), "metrics": metrics.snapshot()}
