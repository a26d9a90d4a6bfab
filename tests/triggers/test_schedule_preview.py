"""``POST /api/triggers/schedule-preview``: the next due times of a cron expression in a time
zone (the times the scheduler fires, across daylight saving), a sentence for simple shapes, a
precise 400 for a bad expression or zone, and designers only."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
import time_machine
from django.test import Client

from controlroom.accounts import token_issue, user_ensure
from controlroom.roles import Role
from flows.triggers import config
from flows.triggers.cron_text import cron_describe

pytestmark = pytest.mark.django_db
URL = "/api/triggers/schedule-preview"
# Friday 6 March 2026, 15:00 UTC; New York moves its clocks forward on Sunday 8 March.
FRIDAY_BEFORE_DST = datetime(2026, 3, 6, 15, 0, tzinfo=UTC)


def _client(role: Role) -> Client:
    user = user_ensure(username=role.value, role=role)
    return Client(HTTP_AUTHORIZATION=f"Bearer {token_issue(user=user)}")


def _preview(body: dict[str, Any], role: Role = Role.DESIGNER) -> Any:
    return _client(role).post(URL, body, content_type="application/json")


def test_nine_oclock_stays_nine_oclock_across_the_clock_change() -> None:
    with time_machine.travel(FRIDAY_BEFORE_DST, tick=False):
        response = _preview({"cron": "0 9 * * *", "timezone": "America/New_York"})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["timezone"] == "America/New_York"
    assert body["next"] == [
        "2026-03-07T09:00:00-05:00",  # EST
        "2026-03-08T09:00:00-04:00",  # EDT from 02:00 that morning
        "2026-03-09T09:00:00-04:00",
        "2026-03-10T09:00:00-04:00",
        "2026-03-11T09:00:00-04:00",
    ]
    instants = [datetime.fromisoformat(t).astimezone(UTC).hour for t in body["next"]]
    assert instants == [14, 13, 13, 13, 13]
    assert body["description"] == "At 09:00, every day"


def test_the_preview_is_what_the_scheduler_fires() -> None:
    block = {"type": "schedule", "cron": "30 8 * * 1-5", "timezone": "Europe/Berlin"}
    with time_machine.travel(FRIDAY_BEFORE_DST, tick=False):
        body = _preview({"cron": block["cron"], "timezone": block["timezone"], "count": 3}).json()
    moment, fired = FRIDAY_BEFORE_DST, []
    for _ in range(3):
        moment = config.next_after(block, moment)
        fired.append(moment)
    assert [datetime.fromisoformat(t) for t in body["next"]] == fired
    assert body["next"][0] == "2026-03-09T08:30:00+01:00"  # Monday: no run on the weekend
    assert body["description"] == "At 08:30, Monday through Friday"


def test_the_zone_defaults_to_utc() -> None:
    with time_machine.travel(FRIDAY_BEFORE_DST, tick=False):
        body = _preview({"cron": "*/20 * * * *", "count": 2}).json()
    assert body == {
        "next": ["2026-03-06T15:20:00+00:00", "2026-03-06T15:40:00+00:00"],
        "timezone": "UTC",
        "description": "Every 20 minutes",
    }


@pytest.mark.parametrize(
    ("body", "pointer", "message"),
    [
        ({"cron": "61 * * * *"}, "/cron", "not a 5-field cron expression: '61 * * * *'"),
        ({"cron": "0 9 * * * 2026"}, "/cron", "not a 5-field cron expression: '0 9 * * * 2026'"),
        ({"cron": ""}, "/cron", "not a 5-field cron expression: ''"),
        ({"cron": "0 0 31 2 *"}, "/cron", "'0 0 31 2 *' never comes due"),
        (
            {"cron": "0 9 * * *", "timezone": "Mars/Olympus"},
            "/timezone",
            "unknown time zone 'Mars/Olympus'",
        ),
        ({"cron": "0 9 * * *", "count": 0}, "/count", "count must be between 1 and 20"),
        ({"cron": "0 9 * * *", "count": 21}, "/count", "count must be between 1 and 20"),
    ],
)
def test_a_bad_expression_zone_or_count_is_a_400_that_says_why(
    body: dict[str, Any], pointer: str, message: str
) -> None:
    response = _preview(body)
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["message"] == message
    assert error["details"] == [{"pointer": pointer, "message": message}]


def test_only_designers_and_admins_preview() -> None:
    body = {"cron": "0 9 * * *"}
    assert _preview(body, Role.ADMIN).status_code == 200
    for role in (Role.VIEWER, Role.APPROVER):
        assert _preview(body, role).status_code == 403
    assert Client().post(URL, body, content_type="application/json").status_code == 401


@pytest.mark.parametrize(
    ("cron", "words"),
    [
        ("0 9 * * MON-FRI", "At 09:00, Monday through Friday"),
        ("30 8,17 * * *", "At 08:30 and 17:30, every day"),
        ("0 * * * *", "At minute 0 of every hour"),
        ("0 9-17 * * 1-5", "Every hour from 09:00 through 17:00, Monday through Friday"),
        ("0 9 1,15 * *", "At 09:00, on days 1 and 15 of the month"),
        ("0 9 1 * 1", "At 09:00, on day 1 of the month or on Monday"),
        ("0 0 1 1,7 *", "At 00:00, on day 1 of the month, in January and July"),
        ("0 9 * * 0-6", "At 09:00, every day"),
        ("0 9 L * *", None),
        ("1-5/2 * * * *", None),
    ],
)
def test_simple_shapes_are_put_into_words(cron: str, words: str | None) -> None:
    assert cron_describe(cron) == words
