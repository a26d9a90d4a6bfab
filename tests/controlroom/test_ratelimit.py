"""Per-token API rate limits: a fixed window in Redis, 429 with Retry-After, one error shape."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
import time_machine
from django.conf import settings
from django.test import Client
from django.test.utils import override_settings

from controlroom import ratelimit
from controlroom.accounts import token_issue, user_ensure
from controlroom.roles import Role

pytestmark = pytest.mark.django_db


def test_a_token_over_its_limit_gets_429_with_retry_after() -> None:
    user = user_ensure(username="viewer", role=Role.VIEWER)
    busy = Client(HTTP_AUTHORIZATION=f"Bearer {token_issue(user=user)}")
    calm = Client(HTTP_AUTHORIZATION=f"Bearer {token_issue(user=user)}")
    # Time stands still so the four requests cannot straddle a window boundary.
    with (
        time_machine.travel(datetime(2026, 11, 23, 9, 0, 30, tzinfo=UTC), tick=False),
        override_settings(CONTROLROOM={**settings.CONTROLROOM, "API_RATE_PER_MINUTE": 3}),
    ):
        assert [busy.get("/api/flows").status_code for _ in range(3)] == [200, 200, 200]
        limited = busy.get("/api/flows")
        assert limited.status_code == 429
        assert 1 <= int(limited["Retry-After"]) <= 61
        assert limited.json()["error"]["code"] == "rate_limited"
        assert calm.get("/api/flows").status_code == 200  # the limit is per token


def test_the_window_counter_allows_up_to_the_limit() -> None:
    key = f"test:{uuid.uuid4()}"
    results = [ratelimit.hit(key, limit=2, window=60) for _ in range(3)]
    assert results[:2] == [None, None] and isinstance(results[2], int)
