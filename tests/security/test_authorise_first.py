"""Issue 14, finding 15: authorisation happens before the request is parsed. Every registered API
operation is walked with a viewer's token (and an outsider's, and no token) and bodies and
query strings that cannot be valid: an operation the caller's role may not use answers 403 in
the one error shape, never 400/422 (which would tell a viewer what the body should be) and
never anything else."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from controlroom.accounts import token_issue, user_ensure
from controlroom.api import api
from controlroom.roles import Role

pytestmark = pytest.mark.django_db

#: Signed webhooks: no user at all (they check their own signatures).
PUBLIC = {("POST", "/api/hooks/flows/{slug}"), ("POST", "/api/hooks/outcomes")}
#: What every signed-in user may do, role or not: manage their own API tokens.
ANY_USER = {("GET", "/api/tokens"), ("POST", "/api/tokens"), ("DELETE", "/api/tokens/{prefix}")}
#: What a viewer may do besides reading (GET): check and preview, nothing that changes state.
VIEWER_POSTS = {
    ("POST", "/api/flows/validate"),
    ("POST", "/api/flows/parse"),
    ("POST", "/api/flows/{slug}/diff"),
    ("POST", "/api/expressions/preview"),
    ("POST", "/api/policies/simulate"),
    ("POST", "/api/policies/{slug}/simulate"),
}
#: Bodies no operation accepts: not JSON, not an object, an empty object, wrong types.
BAD_BODIES = [
    b"not json",
    b"[]",
    b"{}",
    json.dumps({"slug": 5, "name": [], "kind": 1, "active": "maybe", "decision": 7}).encode(),
]
BAD_QUERY = "?limit=not-a-number&since=not-a-date&enabled=maybe&cursor=%00"
PATH_VALUES = {
    "{run_id}": "00000000-0000-0000-0000-000000000000",
    "{approval_id}": "1",
    "{slug}": "nope",
    "{name}": "nope",
    "{prefix}": "nope",
    "{number}": "1",
}


def _operations() -> list[tuple[str, str]]:
    """``(method, path template)`` of every operation the API has registered."""
    found = []
    for prefix, router in api._routers:
        for path, view in router.path_operations.items():
            for operation in view.operations:
                for method in operation.methods:
                    found.append((method, "/api" + (prefix.rstrip("/") + "/" + path.lstrip("/"))))
    return sorted(set(found))


OPERATIONS = _operations()
SIGNED_IN = [op for op in OPERATIONS if op not in PUBLIC]
WITH_A_ROLE = [op for op in SIGNED_IN if op not in ANY_USER]
BEYOND_VIEWER = [op for op in WITH_A_ROLE if op[0] != "GET" and op not in VIEWER_POSTS]


def _ids(operations: list[tuple[str, str]]) -> list[str]:
    return [f"{method} {path}" for method, path in operations]


def _url(template: str) -> str:
    for placeholder, value in PATH_VALUES.items():
        template = template.replace(placeholder, value)
    assert "{" not in template, f"no test value for a path parameter in {template}"
    return template + BAD_QUERY


def _send(client: Client, method: str, template: str, body: bytes) -> Any:
    return client.generic(method, _url(template), body, content_type="application/json")


def _refused(response: Any, status: int, code: str) -> None:
    assert response.status_code == status, response.content[:300]
    error = response.json()["error"]
    assert error["code"] == code and error["message"], error


@pytest.fixture
def clients(settings: Any) -> dict[str, Client]:
    settings.CONTROLROOM = {**settings.CONTROLROOM, "API_RATE_PER_MINUTE": 100_000}
    users = {role.value: user_ensure(username=role.value, role=role) for role in Role}
    users["outsider"] = get_user_model().objects.create_user(username="outsider")
    return {
        name: Client(HTTP_AUTHORIZATION=f"Bearer {token_issue(user=user)}")
        for name, user in users.items()
    }


def test_the_walk_covers_every_kind_of_operation() -> None:
    assert len(OPERATIONS) > 40 and set(OPERATIONS) >= PUBLIC and set(OPERATIONS) >= VIEWER_POSTS
    assert ("POST", "/api/policies") in BEYOND_VIEWER
    assert ("POST", "/api/kill-switch") in BEYOND_VIEWER


@pytest.mark.parametrize(("method", "template"), BEYOND_VIEWER, ids=_ids(BEYOND_VIEWER))
def test_a_viewer_is_refused_before_the_body_is_read(
    clients: dict[str, Client], method: str, template: str
) -> None:
    for body in BAD_BODIES:
        _refused(_send(clients["viewer"], method, template, body), 403, "forbidden")


@pytest.mark.parametrize(("method", "template"), WITH_A_ROLE, ids=_ids(WITH_A_ROLE))
def test_a_user_without_a_role_is_refused_before_anything_is_parsed(
    clients: dict[str, Client], method: str, template: str
) -> None:
    for body in BAD_BODIES:
        _refused(_send(clients["outsider"], method, template, body), 403, "forbidden")


@pytest.mark.parametrize(("method", "template"), SIGNED_IN, ids=_ids(SIGNED_IN))
def test_no_token_is_still_401(method: str, template: str) -> None:
    _refused(_send(Client(), method, template, b"[]"), 401, "unauthenticated")


def test_a_viewer_signed_in_by_session_is_refused_before_parsing_too() -> None:
    client = Client()
    client.force_login(user_ensure(username="viewer", role=Role.VIEWER))
    _refused(_send(client, "POST", "/api/policies", b'{"slug": 5}'), 403, "forbidden")


def test_a_role_that_may_act_still_gets_the_validation_error(
    clients: dict[str, Client],
) -> None:
    response = _send(clients["designer"], "POST", "/api/policies", b'{"slug": 5}')
    _refused(response, 422, "invalid")
    response = _send(clients["admin"], "POST", "/api/kill-switch", b"{}")
    _refused(response, 422, "invalid")
