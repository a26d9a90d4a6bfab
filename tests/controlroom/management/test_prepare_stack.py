"""`manage.py prepare_stack`, what `make run` runs before its processes start: migrate only when
migrations are pending, load the demo only when it changed — in one process."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from controlroom import startup
from controlroom.management.commands import prepare_stack
from flows.models import FlowVersion

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def data_dir(settings, tmp_path):
    settings.ENV = type(settings.ENV)(**{**settings.ENV.__dict__, "data_dir": tmp_path})


def _prepare() -> str:
    out = io.StringIO()
    call_command("prepare_stack", stdout=out)
    return out.getvalue()


def test_a_migrated_database_has_no_pending_migrations():
    assert startup.migrations_pending() is False


def test_a_second_start_neither_migrates_nor_loads_the_demo():
    first = _prepare()
    assert "migrations: none pending" in first
    assert "demo flows saved: " in first
    versions = FlowVersion.objects.count()

    second = _prepare()
    assert "migrations: none pending" in second
    assert "Operations to perform" not in second  # migrate did not run
    assert "demo: unchanged since the last load, not loaded again" in second
    assert "login: admin / " in second
    assert FlowVersion.objects.count() == versions


def test_pending_migrations_are_applied(monkeypatch):
    monkeypatch.setattr(prepare_stack, "migrations_pending", lambda: True)
    assert "Operations to perform" in _prepare()


def test_it_creates_the_static_root_whitenoise_looks_at_when_finders_serve(settings, tmp_path):
    # A missing STATIC_ROOT made every server process warn "No directory at: …" on start.
    settings.STATIC_ROOT = tmp_path / "staticfiles"
    settings.WHITENOISE_USE_FINDERS = True
    _prepare()
    assert settings.STATIC_ROOT.is_dir()


def test_without_finders_a_missing_static_root_is_left_to_warn(settings, tmp_path):
    settings.STATIC_ROOT = tmp_path / "staticfiles"
    settings.WHITENOISE_USE_FINDERS = False
    _prepare()
    assert not settings.STATIC_ROOT.exists()
