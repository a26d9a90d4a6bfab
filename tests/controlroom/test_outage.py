"""PostgreSQL unreachable: the API (webhooks included) and the pages answer 503 with
Retry-After — the JSON error shape for the API — instead of a 500."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.db import connection
from django.test import Client

from controlroom import devstack
from controlroom.accounts import token_issue, user_ensure
from controlroom.roles import Role
from flows.triggers import signing

# committed rows: the token must exist for the request's fresh connection after the outage
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def database_down() -> Iterator[None]:
    """Point this process's connection at a port where no PostgreSQL listens, as if the server
    had died; restored (and reconnected) afterwards."""
    settings_dict = connection.settings_dict
    saved = {key: settings_dict.get(key) for key in ("HOST", "PORT", "OPTIONS")}
    connection.close()
    settings_dict.update(HOST="127.0.0.1", PORT=str(devstack.free_port()))
    settings_dict["OPTIONS"] = {**(saved["OPTIONS"] or {}), "connect_timeout": 2}
    try:
        yield
    finally:
        connection.close()
        settings_dict.update(saved)
        connection.ensure_connection()


@pytest.fixture
def token() -> str:
    return token_issue(user=user_ensure(username="vic", role=Role.VIEWER))


def test_the_api_answers_503_in_the_error_shape(token: str, database_down: None) -> None:
    response = Client(HTTP_AUTHORIZATION=f"Bearer {token}").get("/api/flows")
    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    error = response.json()["error"]
    assert error["code"] == "unavailable" and "try again" in error["message"]


def test_a_webhook_answers_503_and_a_page_too(database_down: None) -> None:
    hook = Client().post(
        "/api/hooks/flows/some-flow",
        data=b"{}",
        content_type="application/json",
        headers={signing.HEADER: "t=1,v1=" + "0" * 64},
    )
    assert hook.status_code == 503, hook.content
    assert hook.json()["error"]["code"] == "unavailable"
    page = Client().get("/forms/some-flow/")
    assert page.status_code == 503 and page["Retry-After"] == "5"
    assert "Briefly unavailable" in page.content.decode()


def test_the_api_works_again_once_the_database_is_back(token: str) -> None:
    assert Client(HTTP_AUTHORIZATION=f"Bearer {token}").get("/api/flows").status_code == 200
