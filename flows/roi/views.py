"""ROI pages: the per-flow dashboard (with the bottleneck view), its CSV tables, and the
cross-flow leaderboard. Thin: parse the period, authorise, call one selector, render."""

from __future__ import annotations

from datetime import date
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from controlroom.roles import Capability, can
from flows import selectors as flow_selectors
from flows.models import Flow
from flows.roi import export
from flows.roi.selectors import PRESETS, flow_dashboard, leaderboard, period_parse

LEADERBOARD_PAGE = 50


def _viewer(request: HttpRequest) -> None:
    if not can(request.user, Capability.VIEW):
        raise PermissionDenied("your role may not view")


def _flow_or_404(slug: str) -> Flow:
    flow = flow_selectors.flow_get(slug=slug)
    if flow is None:
        raise Http404(f"no flow {slug!r}")
    return flow


def _today() -> date:
    return timezone.now().date()


def _period(request: HttpRequest) -> tuple[date, date, str] | str:
    """The period asked for, or the message saying what is wrong with it."""
    try:
        return period_parse(request.GET, today=_today())
    except ValueError as exc:
        return str(exc)


def _period_context(request: HttpRequest, period: tuple[date, date, str] | str) -> dict[str, Any]:
    today = _today()
    if isinstance(period, str):
        return {"period_error": period, "presets": PRESETS, "preset": "", "today": today}
    since, until, preset = period
    return {"since": since, "until": until, "preset": preset, "presets": PRESETS, "today": today}


@login_required
@require_GET
def flow_roi(request: HttpRequest, slug: str) -> HttpResponse:
    """The flow's ROI dashboard over ``?days=7|30|90`` or ``?since=&until=`` (UTC dates)."""
    _viewer(request)
    flow = _flow_or_404(slug)
    period = _period(request)
    context: dict[str, Any] = {"nav": "roi", "flow": flow, **_period_context(request, period)}
    if isinstance(period, str):
        return render(request, "roi/flow.html", context, status=400)
    board = flow_dashboard(flow=flow, since=period[0], until=period[1])
    context |= {
        "board": board,
        "volume": board.volume,
        "cost": board.cost,
        "quality": board.quality,
        "chart": export.chart_data(board),
        "tables": export.TABLES,
        "query": request.GET.urlencode(),
    }
    return render(request, "roi/flow.html", context)


@login_required
@require_GET
def flow_roi_csv(request: HttpRequest, slug: str) -> HttpResponse:
    """One table of the dashboard (``?table=``, default ``summary``) as CSV."""
    _viewer(request)
    flow = _flow_or_404(slug)
    period = _period(request)
    table = request.GET.get("table") or "summary"
    if isinstance(period, str):
        return HttpResponse(period, status=400, content_type="text/plain; charset=utf-8")
    if table not in export.TABLES:
        message = f"table: choose one of {', '.join(export.TABLES)}"
        return HttpResponse(message, status=400, content_type="text/plain; charset=utf-8")
    board = flow_dashboard(flow=flow, since=period[0], until=period[1])
    response = HttpResponse(export.dashboard_csv(board, table), content_type="text/csv")
    name = f"roi-{flow.slug}-{table}-{period[0]}-{period[1]}.csv"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@login_required
@require_GET
def roi_leaderboard(request: HttpRequest) -> HttpResponse:
    """Every flow's period numbers side by side, best net ROI first (``?q=`` filters by
    name or slug; 50 a page)."""
    _viewer(request)
    period = _period(request)
    context: dict[str, Any] = {"nav": "roi", **_period_context(request, period)}
    if isinstance(period, str):
        return render(request, "roi/leaderboard.html", context, status=400)
    query = (request.GET.get("q") or "").strip()[:100]
    rows = leaderboard(since=period[0], until=period[1])
    if query:
        needle = query.lower()
        rows = [r for r in rows if needle in r.label.lower() or needle in r["slug"].lower()]
    pages = Paginator(rows, LEADERBOARD_PAGE)
    number = request.GET.get("page") or "1"
    if not number.isdigit() or not 1 <= int(number) <= pages.num_pages:
        context["period_error"] = f"page: choose 1 to {pages.num_pages}"
        return render(request, "roi/leaderboard.html", context, status=400)
    params = request.GET.copy()
    params.pop("page", None)
    context |= {
        "page": pages.page(int(number)),
        "q": query,
        "query": params.urlencode(),
        "total_flows": len(rows),
        "demo_rows": any(row["demo"] for row in rows),
    }
    return render(request, "roi/leaderboard.html", context)


@login_required
@require_GET
def roi_leaderboard_csv(request: HttpRequest) -> HttpResponse:
    _viewer(request)
    period = _period(request)
    if isinstance(period, str):
        return HttpResponse(period, status=400, content_type="text/plain; charset=utf-8")
    response = HttpResponse(
        export.leaderboard_csv(leaderboard(since=period[0], until=period[1])),
        content_type="text/csv",
    )
    name = f"roi-leaderboard-{period[0]}-{period[1]}.csv"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response
