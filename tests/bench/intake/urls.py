"""``POST /intake``: insert the body as one row and answer 202, nothing else.

The table (``TABLE``) is created and dropped by the benchmark; it is no model of the project.
"""

from __future__ import annotations

from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

TABLE = "bench_intake"
CREATE = (
    f"CREATE TABLE IF NOT EXISTS {TABLE} (id bigserial PRIMARY KEY, "
    "received_at timestamptz NOT NULL DEFAULT now(), body jsonb NOT NULL)"
)
DROP = f"DROP TABLE IF EXISTS {TABLE}"


@csrf_exempt
@require_POST
def intake(request: HttpRequest) -> JsonResponse:
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {TABLE} (body) VALUES (%s) RETURNING id",
            [request.body.decode()],
        )
        row = cursor.fetchone()
    return JsonResponse({"id": row[0] if row else None}, status=202)


urlpatterns = [path("intake", intake)]
