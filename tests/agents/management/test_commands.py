"""`set_secret` (value from stdin, never argv, never printed) and `rotate_secrets`, called in
process and, once each, as the real `manage.py` an operator runs."""

from __future__ import annotations

import io
import subprocess
import sys
import uuid
from collections.abc import Callable

import pytest
from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings
from django.core.management import CommandError, call_command

from agents.models import Secret
from agents.secrets import secret_reveal, secret_set

pytestmark = pytest.mark.django_db


def _value() -> str:
    return f"sv-{uuid.uuid4().hex}"


def _set_secret(*args: str, stdin: str) -> str:
    out = io.StringIO()
    call_command("set_secret", *args, stdin=io.StringIO(stdin), stdout=out)
    return out.getvalue()


def test_set_secret_reads_the_value_from_stdin_and_does_not_print_it():
    value = _value()
    output = _set_secret("crm-token", "--description", "CRM", stdin=value + "\n")
    assert secret_reveal("crm-token") == value  # one trailing newline dropped
    assert Secret.objects.get(name="crm-token").description == "CRM"
    assert "crm-token" in output and value not in output


def test_set_secret_keeps_inner_whitespace_and_replaces_an_earlier_value():
    _set_secret("multi", stdin="first")
    _set_secret("multi", stdin="line one\n  line two \n")
    assert secret_reveal("multi") == "line one\n  line two "


def test_set_secret_refuses_an_empty_value_or_a_bad_name_without_storing_anything():
    with pytest.raises(CommandError, match="non-empty"):
        _set_secret("empty", stdin="\n")
    with pytest.raises(CommandError, match="letters, digits"):
        _set_secret("bad name", stdin="value")
    assert not Secret.objects.exists()


def test_set_secret_takes_no_value_on_the_command_line():
    with pytest.raises(CommandError):
        call_command("set_secret", "name", "the-value", stdin=io.StringIO("x"))


def test_rotate_secrets_re_encrypts_with_the_primary_key(
    use_keys: Callable[..., None], new_key: Callable[[], bytes]
):
    old, new = new_key(), new_key()
    use_keys(old)
    value = _value()
    secret_set(name="a", value=value)
    secret_set(name="b", value=_value())
    use_keys(new, old)
    out = io.StringIO()
    call_command("rotate_secrets", stdout=out)
    assert "re-encrypted 2 secret(s)" in out.getvalue()
    ciphertext = bytes(Secret.objects.get(name="a").ciphertext)
    with pytest.raises(InvalidToken):
        Fernet(old).decrypt(ciphertext)
    assert Fernet(new).decrypt(ciphertext).decode() == value


def test_rotate_secrets_fails_with_a_clear_message_on_a_row_no_key_opens(
    use_keys: Callable[..., None], new_key: Callable[[], bytes]
):
    use_keys(new_key())
    secret_set(name="orphan", value=_value())
    use_keys(new_key())
    with pytest.raises(CommandError, match="orphan"):
        call_command("rotate_secrets", stdout=io.StringIO())


# --- as an operator runs them -------------------------------------------------------------------


def _manage(env: dict[str, str], *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        cwd=settings.BASE_DIR,
        timeout=60,
        check=False,
    )


# committed rows: manage.py runs as a subprocess with its own database connection
@pytest.mark.django_db(transaction=True)
def test_manage_py_set_secret_then_rotate_secrets(process_env: dict[str, str]):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    value = _value()
    stored = _manage(
        {**process_env, "CONTROLROOM_FERNET_KEYS": old}, "set_secret", "crm-token", stdin=value
    )
    assert stored.returncode == 0, stored.stderr
    assert value not in stored.stdout + stored.stderr
    ciphertext = bytes(Secret.objects.get(name="crm-token").ciphertext)
    assert Fernet(old.encode()).decrypt(ciphertext).decode() == value

    rotated = _manage({**process_env, "CONTROLROOM_FERNET_KEYS": f"{new},{old}"}, "rotate_secrets")
    assert rotated.returncode == 0, rotated.stderr
    assert "re-encrypted 1 secret(s)" in rotated.stdout
    ciphertext = bytes(Secret.objects.get(name="crm-token").ciphertext)
    assert Fernet(new.encode()).decrypt(ciphertext).decode() == value


# committed rows: manage.py runs as a subprocess with its own database connection
@pytest.mark.django_db(transaction=True)
def test_a_bad_key_in_the_environment_stops_the_command_without_echoing_it(
    process_env: dict[str, str],
):
    bad = "not-a-fernet-key-" + uuid.uuid4().hex
    result = _manage({**process_env, "CONTROLROOM_FERNET_KEYS": bad}, "rotate_secrets")
    assert result.returncode != 0
    assert "CONTROLROOM_FERNET_KEYS" in result.stderr and "not a Fernet key" in result.stderr
    assert bad not in result.stderr


# committed rows: manage.py runs as a subprocess with its own database connection
@pytest.mark.django_db(transaction=True)
def test_a_fresh_process_redacts_a_stored_secret_it_never_used_from_its_logs(
    process_env: dict[str, str],
):
    """The LOGGING filter in a new process loads the stored values itself."""
    value = _value()
    secret_set(name="elsewhere", value=value)
    script = (
        "import logging, sys; "
        "logging.getLogger('agents.test').error('upstream echoed %s', sys.stdin.read())"
    )
    result = _manage(process_env, "shell", "-c", script, stdin=value)
    assert result.returncode == 0, result.stderr
    assert "upstream echoed [redacted]" in result.stderr
    assert value not in result.stdout + result.stderr
