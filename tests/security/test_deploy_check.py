"""Issue 14: `manage.py check --deploy` with the production settings says nothing a deployment
should fix, and whatever it may still say when the proxy takes TLS duties over is explained in
the README's Deployment section.

Each check runs as an operator would: a subprocess with ``controlroom.settings.prod`` and a
production-grade secret key, the HTTPS knobs (controlroom/env/https.py ``HttpsEnv``) as given.
"""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import pytest

from controlroom import env as envmod

ROOT = Path(__file__).resolve().parents[2]
HTTPS_KNOBS = (
    "CONTROLROOM_HSTS_SECONDS",
    "CONTROLROOM_HSTS_INCLUDE_SUBDOMAINS",
    "CONTROLROOM_HSTS_PRELOAD",
    "CONTROLROOM_SSL_REDIRECT",
    "CONTROLROOM_PROXY_SSL_HEADER",
)
# What remains when the proxy in front sends HSTS and redirects plain HTTP itself.
PROXY_DOES_TLS = {"CONTROLROOM_HSTS_SECONDS": "0", "CONTROLROOM_SSL_REDIRECT": "0"}
PROXY_MOOT = {"security.W004", "security.W008"}


def check_deploy(overrides: Mapping[str, str] = {}) -> tuple[int, set[str], str]:
    """Run the deploy check with the production settings; the exit code (non-zero on any
    warning, ``--fail-level WARNING``), the ids of what it reported, and its output."""
    env = {k: v for k, v in os.environ.items() if k not in HTTPS_KNOBS}
    # The test session's own relaxations are not a deployment's.
    for name in ("CONTROLROOM_DEBUG", "DJANGO_ALLOW_ASYNC_UNSAFE"):
        env.pop(name, None)
    env.update(
        DJANGO_SETTINGS_MODULE="controlroom.settings.prod",
        CONTROLROOM_SECRET_KEY=secrets.token_urlsafe(50),
        CONTROLROOM_ALLOWED_HOSTS="controlroom.example.com",
        # A deployment delivers e-mail; without it the check says controlroom.W001.
        CONTROLROOM_EMAIL_URL="smtp://mail.example.com:587?tls=1",
    )
    env.update(overrides)
    env = {name: value for name, value in env.items() if value != ""}
    done = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = done.stdout + done.stderr
    return done.returncode, set(re.findall(r"\(([a-z_]+\.[EW]\d+)\)", output)), output


def deployment_section() -> str:
    readme = (ROOT / "README.md").read_text()
    match = re.search(r"^## Deployment\n(.*?)(?=^## |\Z)", readme, re.M | re.S)
    assert match, "README.md has no '## Deployment' section"
    return match.group(1)


def test_production_settings_pass_the_deploy_check_with_no_warning() -> None:
    code, ids, output = check_deploy()
    assert (code, ids) == (0, set()), output
    assert "no issues" in output


def test_only_proxy_moot_warnings_remain_when_the_proxy_does_hsts_and_the_redirect() -> None:
    code, ids, output = check_deploy(PROXY_DOES_TLS)
    assert ids == PROXY_MOOT, output
    assert code != 0


def test_production_without_an_email_url_warns_that_email_is_not_delivered() -> None:
    code, ids, output = check_deploy({"CONTROLROOM_EMAIL_URL": ""})
    assert ids == {"controlroom.W001"}, output
    assert code != 0 and "CONTROLROOM_EMAIL_URL" in output


def test_the_readme_explains_every_warning_that_may_remain() -> None:
    section = deployment_section()
    for warning in PROXY_MOOT | {"controlroom.W001"}:
        assert warning in section, f"README Deployment does not explain {warning}"
    for knob in HTTPS_KNOBS:
        assert knob in section, f"README Deployment does not name {knob}"


@pytest.mark.parametrize(
    ("raw", "parsed"),
    [
        ("X-Forwarded-Proto: https", ("HTTP_X_FORWARDED_PROTO", "https")),
        ("x-forwarded-ssl:on", ("HTTP_X_FORWARDED_SSL", "on")),
        ("none", None),
    ],
)
def test_the_proxy_header_knob_reads_a_header_and_a_value(
    raw: str, parsed: tuple[str, str] | None
) -> None:
    assert envmod.proxy_ssl_header_parse(raw) == parsed


@pytest.mark.parametrize("raw", ["X-Forwarded-Proto", "X Forwarded: https", "X-Proto:", ": https"])
def test_a_bad_proxy_header_fails_loudly(raw: str) -> None:
    with pytest.raises(envmod.EnvError, match="CONTROLROOM_PROXY_SSL_HEADER"):
        envmod.proxy_ssl_header_parse(raw)


def test_asking_for_hsts_preload_without_its_preconditions_fails_at_start_up() -> None:
    code, _, output = check_deploy({"CONTROLROOM_HSTS_INCLUDE_SUBDOMAINS": "0"})
    assert code != 0
    assert "CONTROLROOM_HSTS_PRELOAD needs CONTROLROOM_HSTS_INCLUDE_SUBDOMAINS" in output
