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
