"""Environment reading for secrets and memory: typed, defaulted, and loud on a bad value."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet

from controlroom import env


def test_fernet_keys_are_read_in_order_primary_first(monkeypatch: pytest.MonkeyPatch):
    first, second = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    monkeypatch.setenv("CONTROLROOM_FERNET_KEYS", f" {first} , {second},")
    assert env.load().fernet_keys == (first, second)


def test_no_fernet_keys_means_the_key_file(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("CONTROLROOM_FERNET_KEYS", raising=False)
    assert env.load().fernet_keys == ()


@pytest.mark.parametrize("bad", ["short", "x" * 44, "not base64 at all!!", "ünïcode"])
def test_a_malformed_fernet_key_fails_loudly_without_echoing_it(
    monkeypatch: pytest.MonkeyPatch, bad: str
):
    good = Fernet.generate_key().decode()
    monkeypatch.setenv("CONTROLROOM_FERNET_KEYS", f"{good},{bad}")
    with pytest.raises(env.EnvError, match="key 2 is not a Fernet key") as caught:
        env.load()
    assert bad not in str(caught.value) and good not in str(caught.value)


def test_memory_retention_and_cap_have_defaults(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("CONTROLROOM_MEMORY_RETENTION_DAYS", raising=False)
    monkeypatch.delenv("CONTROLROOM_MEMORY_MAX_PER_KEY", raising=False)
    loaded = env.load()
    assert (loaded.memory_retention_days, loaded.memory_max_per_key) == (90, 200)
    monkeypatch.setenv("CONTROLROOM_MEMORY_RETENTION_DAYS", "7")
    monkeypatch.setenv("CONTROLROOM_MEMORY_MAX_PER_KEY", "25")
    loaded = env.load()
    assert (loaded.memory_retention_days, loaded.memory_max_per_key) == (7, 25)


@pytest.mark.parametrize(
    ("name", "raw"),
    [
        ("CONTROLROOM_MEMORY_RETENTION_DAYS", "0"),
        ("CONTROLROOM_MEMORY_RETENTION_DAYS", "ninety"),
        ("CONTROLROOM_MEMORY_MAX_PER_KEY", "-1"),
        ("CONTROLROOM_MEMORY_MAX_PER_KEY", "2.5"),
    ],
)
def test_a_bad_memory_setting_fails_loudly(monkeypatch: pytest.MonkeyPatch, name: str, raw: str):
    monkeypatch.setenv(name, raw)
    with pytest.raises(env.EnvError, match=name):
        env.load()


# --- e-mail -----------------------------------------------------------------------------------


@pytest.fixture
def no_email_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ("CONTROLROOM_EMAIL_URL", "CONTROLROOM_SMTP_URL", "CONTROLROOM_EMAIL_FROM"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_unset_email_is_the_console_and_not_delivered(no_email_env: pytest.MonkeyPatch):
    email = env.load().email
    assert email.backend == "django.core.mail.backends.console.EmailBackend"
    assert not email.delivers
    assert email.from_email == "control-room@localhost"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("smtp://mail.example.com", ("mail.example.com", 25, "", "", False, False)),
        ("smtp://u:p@mail.example.com:587?tls=1", ("mail.example.com", 587, "u", "p", True, False)),
        ("smtp://mail.example.com?tls=1", ("mail.example.com", 587, "", "", True, False)),
        (
            "smtps://a%40b.com:s%3Acret@mx.example.com",
            ("mx.example.com", 465, "a@b.com", "s:cret", False, True),
        ),
        ("smtp://127.0.0.1:2525?starttls=1", ("127.0.0.1", 2525, "", "", True, False)),
    ],
)
def test_an_smtp_url_maps_to_django_email_settings(
    no_email_env: pytest.MonkeyPatch, url: str, expected: tuple[object, ...]
):
    no_email_env.setenv("CONTROLROOM_EMAIL_URL", url)
    email = env.load().email
    assert email.delivers
    assert email.backend == "django.core.mail.backends.smtp.EmailBackend"
    got = (email.host, email.port, email.user, email.password, email.use_tls, email.use_ssl)
    assert got == expected
    assert email.timeout_seconds == 20.0


def test_console_url_timeout_and_sender(no_email_env: pytest.MonkeyPatch):
    no_email_env.setenv("CONTROLROOM_EMAIL_URL", "console://")
    assert not env.load().email.delivers
    no_email_env.setenv("CONTROLROOM_EMAIL_URL", "smtp://mx.example.com?timeout=3.5")
    no_email_env.setenv("CONTROLROOM_EMAIL_FROM", "Control Room <ops@example.com>")
    email = env.load().email
    assert (email.timeout_seconds, email.from_email) == (3.5, "Control Room <ops@example.com>")


def test_the_older_smtp_url_name_still_works_and_the_new_one_wins(
    no_email_env: pytest.MonkeyPatch,
):
    no_email_env.setenv("CONTROLROOM_SMTP_URL", "smtp://old.example.com")
    assert env.load().email.host == "old.example.com"
    no_email_env.setenv("CONTROLROOM_EMAIL_URL", "smtp://new.example.com")
    assert env.load().email.host == "new.example.com"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://mx.example.com", "must start with smtp://, smtps:// or console://"),
        ("mx.example.com:25", "must start with smtp://"),
        ("smtp://", "must name a host"),
        ("smtp://u:hunter2@mx.example.com:99999", "port that is not a number"),
        ("smtp://u:hunter2@mx.example.com:abc", "port that is not a number"),
        ("smtp://mx.example.com?tsl=1", "unknown option"),
        ("smtp://mx.example.com?tls=maybe", "must be 1 or 0"),
        ("smtps://mx.example.com?tls=1", "TLS already"),
        ("smtp://mx.example.com?timeout=0", "above 0"),
        ("smtp://mx.example.com?timeout=soon", "number of seconds"),
        ("console://mx.example.com", "takes no host"),
    ],
)
def test_a_bad_email_url_fails_loudly_without_echoing_the_password(
    no_email_env: pytest.MonkeyPatch, url: str, message: str
):
    no_email_env.setenv("CONTROLROOM_EMAIL_URL", url)
    with pytest.raises(env.EnvError, match="CONTROLROOM_EMAIL_URL") as caught:
        env.load()
    assert message in str(caught.value)
    assert "hunter2" not in str(caught.value)


@pytest.mark.parametrize(
    "sender", [" ", "not-an-address", "a@x.com, b@x.com", "ops@x.com\r\nBcc: y@z"]
)
def test_a_bad_sender_fails_loudly(no_email_env: pytest.MonkeyPatch, sender: str):
    no_email_env.setenv("CONTROLROOM_EMAIL_FROM", sender)
    with pytest.raises(env.EnvError, match="CONTROLROOM_EMAIL_FROM"):
        env.load()
