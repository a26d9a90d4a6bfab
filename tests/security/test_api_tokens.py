"""Issue 14, finding 10b/c: API tokens can be listed and revoked — in the UI, with a command and
through the API — and a revoked token stops authenticating at once, in every process; a demoted
admin loses Django's staff (and superuser) flags with the role."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client

from controlroom.accounts import token_issue, user_ensure
from controlroom.roles import Role, roles_of
from tests.support.stack import AsgiServer

pytestmark = pytest.mark.django_db


@pytest.fixture
def cast() -> dict[str, Any]:
    users = {role.value: user_ensure(username=role.value, role=role) for role in Role}
    users["outsider"] = get_user_model().objects.create_user(username="outsider")
    return users


def bearer(token: str) -> Client:
    return Client(HTTP_AUTHORIZATION=f"Bearer {token}")


def authenticates(token: str) -> bool:
    status = bearer(token).get("/api/tokens").status_code
    assert status in {200, 401}, status
    return status == 200


@pytest.fixture
def signed_in(cast: dict[str, Any]) -> Callable[[str], Client]:
    def browser(name: str) -> Client:
        client = Client()
        client.force_login(cast[name])
        return client

    return browser


# --- the API ----------------------------------------------------------------------------------


def test_a_token_revoked_through_the_api_stops_authenticating(cast: dict[str, Any]) -> None:
    token = token_issue(user=cast["designer"], name="ci")
    assert authenticates(token)
    assert bearer(token).delete(f"/api/tokens/{token[:10]}").status_code == 204
    assert not authenticates(token)


def test_the_api_lists_and_issues_the_callers_own_tokens(cast: dict[str, Any]) -> None:
    mine = token_issue(user=cast["designer"], name="laptop")
    token_issue(user=cast["viewer"], name="not yours")
    issued = bearer(mine).post("/api/tokens", {"name": "deploy"}, content_type="application/json")
    assert issued.status_code == 201
    new = issued.json()
    assert new["token"].startswith(new["prefix"]) and new["user"] == "designer"
    listed = bearer(mine).get("/api/tokens").json()["items"]
    assert sorted(row["name"] for row in listed) == ["deploy", "laptop"]
    assert set(listed[0]) == {"prefix", "name", "user", "created_at", "last_used_at"}
    assert authenticates(new["token"])


def test_nobody_but_an_admin_revokes_someone_elses_token(cast: dict[str, Any]) -> None:
    theirs = token_issue(user=cast["viewer"])
    designer = bearer(token_issue(user=cast["designer"]))
    refused = designer.delete(f"/api/tokens/{theirs[:10]}")
    assert refused.status_code == 404
    assert refused.json()["error"]["code"] == "not_found"
    assert designer.get("/api/tokens?user=viewer").status_code == 403
    assert authenticates(theirs)
    admin = bearer(token_issue(user=cast["admin"]))
    assert [row["name"] for row in admin.get("/api/tokens?user=viewer").json()["items"]] == ["cli"]
    assert admin.delete(f"/api/tokens/{theirs[:10]}").status_code == 204
    assert not authenticates(theirs)


def test_bad_token_requests_get_clear_4xx(cast: dict[str, Any]) -> None:
    client = bearer(token_issue(user=cast["viewer"]))
    assert client.delete("/api/tokens/cr_nothing").status_code == 404
    empty = client.post("/api/tokens", {"name": ""}, content_type="application/json")
    assert empty.status_code == 422
    assert client.get("/api/tokens?user=nobody").status_code == 403


def test_a_revoked_token_stops_at_once_in_the_web_server_process(
    asgi_server: AsgiServer, transactional_db: None, cast: dict[str, Any]
) -> None:
    token = token_issue(user=cast["designer"])
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=asgi_server.url, headers=headers) as server:
        assert server.get("/api/tokens").status_code == 200
        call_command("revoke_token", token[:10])
        assert server.get("/api/tokens").status_code == 401


# --- the command ------------------------------------------------------------------------------


def test_the_command_revokes_a_token_by_prefix(cast: dict[str, Any]) -> None:
    token, other = token_issue(user=cast["viewer"]), token_issue(user=cast["viewer"])
    call_command("revoke_token", token[:10])
    assert not authenticates(token)
    assert authenticates(other)


def test_the_command_revokes_every_token_of_a_user(cast: dict[str, Any]) -> None:
    tokens = [token_issue(user=cast["viewer"]) for _ in range(3)]
    kept = token_issue(user=cast["designer"])
    call_command("revoke_token", "--user", "viewer", "--all")
    assert not any(authenticates(token) for token in tokens)
    assert authenticates(kept)


def test_the_command_refuses_what_it_cannot_do(cast: dict[str, Any]) -> None:
    with pytest.raises(CommandError, match="no live token"):
        call_command("revoke_token", "cr_nothing")
    with pytest.raises(CommandError, match="either"):
        call_command("revoke_token")
    with pytest.raises(CommandError, match="no user"):
        call_command("revoke_token", "--user", "nobody", "--all")


# --- the UI -----------------------------------------------------------------------------------


def test_the_tokens_page_lists_the_users_tokens_and_revokes_them(
    cast: dict[str, Any], signed_in: Callable[[str], Client]
) -> None:
    token = token_issue(user=cast["designer"], name="my script")
    token_issue(user=cast["viewer"], name="someone else's")
    browser = signed_in("designer")
    page = browser.get("/account/tokens/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "my script" in html and token[:10] in html
    assert "someone else" not in html and token not in html
    revoked = browser.post(f"/account/tokens/{token[:10]}/revoke/")
    assert revoked.status_code == 302
    assert not authenticates(token)
    after = browser.get("/account/tokens/").content.decode()
    assert "revoked" in after and f'id="token-{token[:10]}"' not in after


def test_the_tokens_page_issues_a_token_shown_once(
    cast: dict[str, Any], signed_in: Callable[[str], Client]
) -> None:
    browser = signed_in("viewer")
    page = browser.post("/account/tokens/", {"name": "notebook"})
    assert page.status_code == 201
    token = page.context["issued"]
    assert token in page.content.decode() and authenticates(token)
    assert token not in browser.get("/account/tokens/").content.decode()


def test_an_admin_sees_and_revokes_anyones_token_on_the_page(
    cast: dict[str, Any], signed_in: Callable[[str], Client]
) -> None:
    theirs = token_issue(user=cast["approver"], name="approver's bot")
    assert signed_in("designer").post(f"/account/tokens/{theirs[:10]}/revoke/").status_code == 404
    assert authenticates(theirs)
    admin = signed_in("admin")
    assert "approver&#x27;s bot" in admin.get("/account/tokens/").content.decode()
    assert admin.post(f"/account/tokens/{theirs[:10]}/revoke/").status_code == 302
    assert not authenticates(theirs)


# --- staff follows the role -------------------------------------------------------------------


def test_a_demoted_admin_loses_is_staff(cast: dict[str, Any]) -> None:
    admin = cast["admin"]
    assert admin.is_staff
    user_ensure(username="admin", role=Role.DESIGNER)
    admin.refresh_from_db()
    assert not admin.is_staff
    staff_only = Client()
    staff_only.force_login(admin)
    assert staff_only.get("/admin/").status_code == 302  # to the admin's login


def test_a_demoted_superuser_loses_the_admin_role(cast: dict[str, Any]) -> None:
    root = get_user_model().objects.create_superuser(username="root")
    user_ensure(username="root", role=Role.VIEWER)
    root = get_user_model().objects.get(pk=root.pk)
    assert not root.is_staff and not root.is_superuser
    assert roles_of(root) == {Role.VIEWER}


def test_removing_the_admin_group_in_the_django_admin_clears_is_staff(
    cast: dict[str, Any],
) -> None:
    demoted = cast["admin"]
    root = Client()
    root.force_login(get_user_model().objects.create_superuser(username="root"))
    viewer_group = cast["viewer"].groups.get()
    response = root.post(
        f"/admin/auth/user/{demoted.pk}/change/",
        {
            "username": demoted.username,
            "is_active": "on",
            "is_staff": "on",  # left ticked: the role decides
            "groups": [viewer_group.pk],
            "date_joined_0": demoted.date_joined.strftime("%Y-%m-%d"),
            "date_joined_1": demoted.date_joined.strftime("%H:%M:%S"),
        },
    )
    assert response.status_code == 302
    demoted.refresh_from_db()
    assert not demoted.is_staff
