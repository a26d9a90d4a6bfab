"""Issue 14, finding 10a: password sign-in is throttled (django-axes).

Ten wrong passwords for one username from one address lock that pair: the tenth is answered
with HTTP 429 and the lockout page (our base template), and so is every attempt, right or
wrong, for 15 minutes. Other
addresses and other usernames are not affected, and a success resets the count.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.conf import settings
from django.test import Client

from controlroom.accounts import user_ensure
from controlroom.roles import Role

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"
ATTACKER, OFFICE = "203.0.113.7", "198.51.100.20"


@pytest.fixture
def designer() -> Any:
    return user_ensure(username="designer", role=Role.DESIGNER, password=PASSWORD)


@pytest.fixture
def viewer() -> Any:
    return user_ensure(username="viewer", role=Role.VIEWER, password=PASSWORD)


def sign_in(username: str, password: str, *, address: str = ATTACKER, path: str = "/login/") -> Any:
    return Client(REMOTE_ADDR=address).post(path, {"username": username, "password": password})


def fail(times: int, username: str = "designer", **kwargs: Any) -> None:
    for attempt in range(times):
        response = sign_in(username, f"guess-{attempt}", **kwargs)
        assert response.status_code == 200, (attempt, response.status_code)
        assert b"correct username and password" in response.content


def test_ten_wrong_passwords_lock_out_even_the_right_one(designer: Any) -> None:
    fail(settings.AXES_FAILURE_LIMIT - 1)
    assert sign_in("designer", "the tenth guess").status_code == 429
    locked = sign_in("designer", PASSWORD)  # even the right password
    assert locked.status_code == 429
    assert "_auth_user_id" not in locked.wsgi_request.session


def test_forty_wrong_passwords_are_not_answered_normally(designer: Any) -> None:
    statuses = [sign_in("designer", f"guess-{n}").status_code for n in range(40)]
    assert statuses.count(200) == settings.AXES_FAILURE_LIMIT - 1
    assert set(statuses[settings.AXES_FAILURE_LIMIT :]) == {429}


def test_the_lockout_page_is_ours_and_says_what_to_do(designer: Any) -> None:
    fail(settings.AXES_FAILURE_LIMIT - 1)
    page = sign_in("designer", "again").content.decode()
    assert "Too many sign-in attempts" in page
    assert "Control Room" in page and "<html" in page  # the base template, not bare text
    assert "0:15:00" in page  # how long


def test_the_lockout_is_per_username_and_address(designer: Any, viewer: Any) -> None:
    fail(settings.AXES_FAILURE_LIMIT - 1)
    assert sign_in("designer", "the tenth guess").status_code == 429
    assert sign_in("designer", PASSWORD, address=OFFICE).status_code == 302
    assert sign_in("viewer", PASSWORD).status_code == 302


def test_a_success_resets_the_count(designer: Any) -> None:
    fail(settings.AXES_FAILURE_LIMIT - 1)
    assert sign_in("designer", PASSWORD).status_code == 302
    fail(settings.AXES_FAILURE_LIMIT - 1)
    assert sign_in("designer", PASSWORD).status_code == 302


def test_the_admin_sign_in_is_throttled_too(designer: Any) -> None:
    for attempt in range(settings.AXES_FAILURE_LIMIT - 1):
        assert sign_in("designer", f"guess-{attempt}", path="/admin/login/").status_code == 200
    assert sign_in("designer", "tenth", path="/admin/login/").status_code == 429
    assert sign_in("designer", PASSWORD).status_code == 429  # one count for both pages


def test_guessing_a_bearer_token_is_not_a_password_sign_in(designer: Any) -> None:
    """The API takes bearer tokens only (random, nothing to guess from a password): a password
    as a token, or HTTP basic auth, is refused as unauthenticated."""
    as_token = Client(HTTP_AUTHORIZATION=f"Bearer {PASSWORD}").get("/api/flows")
    basic = Client(HTTP_AUTHORIZATION="Basic ZGVzaWduZXI6Y29ycmVjdA==").get("/api/flows")
    assert as_token.status_code == basic.status_code == 401


def test_a_forged_forwarded_for_header_does_not_reset_the_count(designer: Any) -> None:
    """The address is the connection's: a client-sent X-Forwarded-For per attempt would
    otherwise make every guess come from a fresh address."""
    for attempt in range(settings.AXES_FAILURE_LIMIT - 1):
        forged = Client(REMOTE_ADDR=ATTACKER, HTTP_X_FORWARDED_FOR=f"192.0.2.{attempt}")
        assert forged.post("/login/", {"username": "designer", "password": "x"}).status_code == 200
    last = Client(REMOTE_ADDR=ATTACKER, HTTP_X_FORWARDED_FOR="192.0.2.250")
    assert last.post("/login/", {"username": "designer", "password": "x"}).status_code == 429
