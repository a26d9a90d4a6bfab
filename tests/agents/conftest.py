"""Fixtures for the agents app's tests: Fernet keys under the test's control."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from cryptography.fernet import Fernet
from pytest_django.fixtures import Settings


@pytest.fixture
def use_keys(settings: Settings) -> Callable[..., None]:
    """``use_keys(primary, *older)``: configure CONTROLROOM_FERNET_KEYS as the environment
    would (restored after the test)."""

    def configure(*keys: bytes) -> None:
        settings.CONTROLROOM = {
            **settings.CONTROLROOM,
            "FERNET_KEYS": [key.decode() for key in keys],
        }

    return configure


@pytest.fixture
def new_key() -> Callable[[], bytes]:
    return Fernet.generate_key
