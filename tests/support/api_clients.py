"""The API tests' cast: one user per role plus an outsider with none, and a bearer-token client
per user. Loaded as a plugin by ``tests/conftest.py``: every test may ask for them, and a module
that defines a fixture of the same name (a different cast) overrides it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from controlroom.accounts import token_issue, user_ensure
from controlroom.roles import Role


@pytest.fixture
def cast() -> dict[str, Any]:
    """One user per role (named after it), plus ``outsider`` with no role."""
    users = {role.value: user_ensure(username=role.value, role=role) for role in Role}
    users["outsider"] = get_user_model().objects.create_user(username="outsider")
    return users


@pytest.fixture
def api(cast: dict[str, Any]) -> Callable[[str], Client]:
    """``api("designer")``: a client sending that user's bearer token (one per user)."""
    clients: dict[str, Client] = {}

    def client_for(name: str) -> Client:
        if name not in clients:
            clients[name] = Client(HTTP_AUTHORIZATION=f"Bearer {token_issue(user=cast[name])}")
        return clients[name]

    return client_for
