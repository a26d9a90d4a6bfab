from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET

from controlroom.health import health_check


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    ok, checks = health_check()
    return JsonResponse(
        {"status": "ok" if ok else "degraded", "checks": checks}, status=200 if ok else 503
    )
