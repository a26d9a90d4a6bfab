"""The ROI JSON API: ``GET /api/flows/{slug}/roi`` and ``GET /api/roi`` (the leaderboard),
on the same selectors as the pages."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from ninja import Router
from ninja.errors import HttpError

from controlroom.api import ERRORS, error_response, requires
from controlroom.roles import Capability
from flows import selectors as flow_selectors
from flows.roi import export
from flows.roi.selectors import flow_dashboard, leaderboard, period_parse

router = Router(tags=["roi"], auth=requires(Capability.VIEW))


def _period(request: HttpRequest) -> Any:
    try:
        return period_parse(request.GET, today=timezone.now().date())
    except ValueError as exc:
        name, _, message = str(exc).partition(": ")
        return error_response(
            request, 400, "invalid", str(exc), [{"pointer": f"/{name}", "message": message}]
        )


@router.get(
    "/flows/{slug}/roi",
    response={200: dict[str, Any], **ERRORS},
    summary="A flow's ROI dashboard: volume, cost, human time, value, quality, trends, "
    "versions and bottlenecks for runs started in ?since&until (UTC dates) or ?days=7|30|90",
)
def flow_roi(request: HttpRequest, slug: str) -> Any:
    flow = flow_selectors.flow_get(slug=slug)
    if flow is None:
        raise HttpError(404, f"no flow {slug!r}")
    period = _period(request)
    if isinstance(period, HttpResponse):
        return period
    return export.dashboard_dict(flow_dashboard(flow=flow, since=period[0], until=period[1]))


@router.get(
    "/roi",
    response={200: dict[str, Any], **ERRORS},
    summary="Every flow's ROI numbers for the period, best net ROI first",
)
def roi_leaderboard(request: HttpRequest) -> Any:
    period = _period(request)
    if isinstance(period, HttpResponse):
        return period
    rows = leaderboard(since=period[0], until=period[1])
    return {
        "since": period[0].isoformat(),
        "until": period[1].isoformat(),
        "items": [
            {"flow": row.label, **{k: export.plain(v) for k, v in row.values.items()}}
            for row in rows
        ],
        "next_cursor": None,
    }
