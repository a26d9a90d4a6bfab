"""``/metrics``: the registered sources in the Prometheus text exposition format.

Access: with ``CONTROLROOM_METRICS_TOKEN`` set, every request must carry
``Authorization: Bearer <token>`` (compared in constant time). Without it, only direct
loopback requests are answered — a request that came through a proxy (it carries
``X-Forwarded-For`` / ``Forwarded``) is refused even from 127.0.0.1, because a reverse proxy on
the same host would otherwise publish the metrics to everyone.

``prometheus_client`` is imported at the first scrape, not with the URL configuration that
every web process and ``manage.py check`` load.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Iterator
from typing import TYPE_CHECKING

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET

from controlroom.observability import metrics

if TYPE_CHECKING:
    from prometheus_client.core import Metric


class _Collector:
    def collect(self) -> Iterator[Metric]:
        for family in metrics.collect():
            yield _convert(family)


def _convert(family: metrics.Family) -> Metric:
    from prometheus_client.core import (
        CounterMetricFamily,
        GaugeMetricFamily,
        HistogramMetricFamily,
    )

    labels = list(family.labels)
    if family.kind == "histogram":
        histogram = HistogramMetricFamily(family.name, family.help, labels=labels)
        for h in family.histograms:
            buckets = [(_le(bound), count) for bound, count in h.buckets]
            histogram.add_metric([h.labels[n] for n in labels], buckets, h.sum)
        return histogram
    kind = CounterMetricFamily if family.kind == "counter" else GaugeMetricFamily
    out = kind(family.name, family.help, labels=labels)
    for sample in family.samples:
        out.add_metric([sample.labels[n] for n in labels], sample.value)
    return out


def _le(bound: float) -> str:
    return "+Inf" if bound == float("inf") else str(float(bound))


def exposition() -> bytes:
    from prometheus_client import CollectorRegistry, generate_latest

    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Collector())
    return generate_latest(registry)


def _allowed(request: HttpRequest) -> tuple[bool, int, str]:
    token = settings.CONTROLROOM["OBSERVABILITY"].metrics_token
    if token:
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(given.strip(), token):
            return True, 200, ""
        return False, 401, "a valid bearer token (CONTROLROOM_METRICS_TOKEN) is required\n"
    if request.headers.get("X-Forwarded-For") or request.headers.get("Forwarded"):
        return False, 403, "proxied requests need CONTROLROOM_METRICS_TOKEN to be set\n"
    try:
        loopback = ipaddress.ip_address(request.META.get("REMOTE_ADDR", "")).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        return False, 403, "/metrics is open to loopback only; set CONTROLROOM_METRICS_TOKEN\n"
    return True, 200, ""


@require_GET
def metrics_view(request: HttpRequest) -> HttpResponse:
    ok, status, message = _allowed(request)
    if not ok:
        response = HttpResponse(message, status=status, content_type="text/plain; charset=utf-8")
        if status == 401:
            response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    from prometheus_client.exposition import CONTENT_TYPE_LATEST

    return HttpResponse(exposition(), content_type=CONTENT_TYPE_LATEST)
