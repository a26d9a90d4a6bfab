"""Answering during an outage of PostgreSQL or Redis: 503 with `Retry-After`, never a 500.

A request that loses the database or the broker half way did not happen: every domain function
writes in one transaction, which the lost connection rolled back, so the caller is told to try
again later and nothing is half-accepted. The API (and webhooks, which live under it) gets the
JSON error shape; pages and public forms get a short HTML page.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import redis
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from kombu.exceptions import OperationalError as BrokerError

logger = logging.getLogger(__name__)

OUTAGE_ERRORS: tuple[type[BaseException], ...] = (
    OperationalError,
    InterfaceError,
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    BrokerError,
)
RETRY_AFTER_SECONDS = 5
WHAT = "its database or message broker is unreachable"
MESSAGE = f"the service is briefly unavailable ({WHAT})"


def outage_response(request: HttpRequest, error: BaseException) -> HttpResponse:
    """The 503 for ``request`` that failed with ``error`` (one of ``OUTAGE_ERRORS``)."""
    logger.warning("outage while serving %s %s: %s", request.method, request.path, error)
    response: HttpResponse
    if request.path.startswith("/api/") or "json" in request.headers.get("Accept", ""):
        body = {"error": {"code": "unavailable", "message": MESSAGE + "; try again", "details": []}}
        response = JsonResponse(body, status=503)
    else:
        response = HttpResponse(
            "<!doctype html><title>Briefly unavailable</title>"
            f"<h1>Briefly unavailable</h1><p>The control room: {WHAT}. "
            "Nothing was changed; try again in a few seconds.</p>",
            status=503,
            content_type="text/html; charset=utf-8",
        )
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


class OutageMiddleware:
    """Turns an outage error raised by a view into ``outage_response``."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, OUTAGE_ERRORS):
            return outage_response(request, exception)
        return None
