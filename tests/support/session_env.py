"""pytest plugin that prepares the environment Django settings will read, loaded with `-p`.

It must run before pytest-django imports the settings, which happens before any conftest.py
is loaded, so it lives here and is named in `addopts` rather than in `tests/conftest.py`.
It picks the session's PostgreSQL and Redis (see `tests.support.stack.services_start`), sets
`DATABASE_URL`, `REDIS_URL`, the short engine timings and a throwaway data directory, and stops
whatever it started when the session ends.

Set `CONTROLROOM_TEST_EMBEDDED=1` to ignore the machine's servers and run on embedded ones.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.support.stack import Services

_services: Services | None = None
_work_dir: Path | None = None


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config) -> None:
    global _services, _work_dir
    if early_config.known_args_namespace.help or early_config.known_args_namespace.version:
        return
    stack = _import_stack()
    _work_dir = Path(tempfile.mkdtemp(prefix="controlroom-tests-"))
    os.environ.update(stack.TEST_TIMINGS)
    os.environ["CONTROLROOM_DATA_DIR"] = str(_work_dir / "data")
    # As `make run`'s prepare_stack does: WhiteNoise warns once per request handler about a
    # missing STATIC_ROOT (served from the finders in tests, as in dev).
    (_work_dir / "data" / "staticfiles").mkdir(parents=True)
    os.environ.setdefault("CONTROLROOM_SECRET_KEY", "tests-only-secret-key-not-for-production")
    # Playwright's sync API runs an event loop in the test thread; Django would otherwise
    # refuse ORM calls from tests that drive a browser.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    force_embedded = os.environ.get("CONTROLROOM_TEST_EMBEDDED", "") in {"1", "true", "yes"}
    _services = stack.services_start(_work_dir, force_embedded=force_embedded)
    os.environ["DATABASE_URL"] = _services.database_url
    os.environ["REDIS_URL"] = _services.redis_url


def pytest_report_header(config: pytest.Config) -> list[str]:
    if _services is None:
        return []
    kind = "embedded" if _services.embedded else "machine"
    return [f"services ({kind}): {_services.database_url} {_services.redis_url}"]


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    global _services, _work_dir
    if _services is not None:
        _services.stop()
        _services = None
    if _work_dir is not None:
        shutil.rmtree(_work_dir, ignore_errors=True)
        _work_dir = None


def _import_stack() -> ModuleType:
    # Importing the `controlroom` package loads the Celery app, which defaults
    # DJANGO_SETTINGS_MODULE to the dev settings; pytest-django has not chosen the settings yet
    # and would take that default over the ini file's, so undo it.
    before = os.environ.get("DJANGO_SETTINGS_MODULE")
    from tests.support import stack

    if before is None:
        os.environ.pop("DJANGO_SETTINGS_MODULE", None)
    else:
        os.environ["DJANGO_SETTINGS_MODULE"] = before
    return stack
