"""Secrets: encrypted at rest, revealed only by name, rotated under a new primary key, and
failing loudly (at use, not import) when no key is configured."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.fernet import Fernet, InvalidToken
from django.db import connection
from pytest_django.fixtures import Settings

from agents import keyring, secrets
from agents.models import ProviderConnection, Secret
from agents.secrets import (
    SecretInvalid,
    SecretMissing,
    SecretsNotConfigured,
    SecretUnreadable,
    secret_delete,
    secret_reveal,
    secret_set,
    secrets_rotate,
)

pytestmark = pytest.mark.django_db


def _value() -> str:
    return f"sv-{uuid.uuid4().hex}"


def _ciphertext(name: str) -> bytes:
    return bytes(Secret.objects.get(name=name).ciphertext)


# --- round trip -----------------------------------------------------------------------------


def test_a_stored_secret_reveals_its_value_and_is_not_stored_in_plain_text():
    value = _value()
    secret = secret_set(name="crm-token", value=value, description="CRM API")
    assert secret_reveal("crm-token") == value
    assert secret.description == "CRM API"
    assert value.encode() not in _ciphertext("crm-token")
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM agents_secret")
        assert value not in repr(cursor.fetchall())


def test_setting_a_name_again_replaces_its_value():
    secret_set(name="crm-token", value=_value())
    second = _value()
    secret_set(name="crm-token", value=second)
    assert secret_reveal("crm-token") == second
    assert Secret.objects.filter(name="crm-token").count() == 1


def test_unicode_and_long_values_survive_the_round_trip():
    value = "pässwörd-🔑-" + "x" * 5000
    secret_set(name="odd", value=value)
    assert secret_reveal("odd") == value


def test_revealing_a_missing_secret_names_it():
    with pytest.raises(SecretMissing) as caught:
        secret_reveal("nope")
    assert caught.value.name == "nope"
    assert "nope" in str(caught.value)


def test_a_deleted_secret_is_gone_and_deleting_twice_is_harmless():
    secret_set(name="gone", value=_value())
    secret_delete(name="gone")
    secret_delete(name="gone")
    with pytest.raises(SecretMissing):
        secret_reveal("gone")


def test_a_secret_a_connection_uses_cannot_be_deleted():
    secret = secret_set(name="openai-key", value=_value())
    ProviderConnection.objects.create(slug="openai", kind="openai", api_key=secret)
    with pytest.raises(Exception, match="protected"):
        secret_delete(name="openai-key")
    assert Secret.objects.filter(name="openai-key").exists()


@pytest.mark.parametrize(
    ("name", "value", "description"),
    [
        ("", "v", ""),
        ("has space", "v", ""),
        ("x" * 101, "v", ""),
        ("ok", "", ""),
        ("ok", "v" * 64_001, ""),
        ("ok", "v", "d" * 201),
    ],
)
def test_bad_names_values_and_descriptions_are_refused(name, value, description):
    with pytest.raises(SecretInvalid):
        secret_set(name=name, value=value, description=description)
    assert not Secret.objects.exists()


def test_a_secret_repr_and_str_show_its_name_only():
    value = _value()
    secret = secret_set(name="shown", value=value)
    fetched = Secret.objects.get(name="shown")
    for text in (repr(secret), str(secret), repr(fetched), str(fetched), repr([fetched])):
        assert "shown" in text
        assert value not in text
        assert "ciphertext" not in text and "gAAAA" not in text


# --- rotation -------------------------------------------------------------------------------


def test_rotation_re_encrypts_every_row_with_the_new_primary_key(
    use_keys: Callable[..., None], new_key: Callable[[], bytes]
):
    old, new = new_key(), new_key()
    use_keys(old)
    values = {f"s{i}": _value() for i in range(5)}
    for name, value in values.items():
        secret_set(name=name, value=value)
    before = {name: _ciphertext(name) for name in values}

    use_keys(new, old)  # the new key first: it encrypts, the old one still decrypts
    assert {name: secret_reveal(name) for name in values} == values
    assert secrets_rotate() == 5

    for name, value in values.items():
        after = _ciphertext(name)
        assert after != before[name]
        assert Fernet(new).decrypt(after).decode() == value
        with pytest.raises(InvalidToken):
            Fernet(old).decrypt(after)
    assert not Secret.objects.filter(rotated_at__isnull=True).exists()

    use_keys(new)  # the old key is retired
    assert {name: secret_reveal(name) for name in values} == values


def test_rotation_walks_every_batch(
    use_keys: Callable[..., None], new_key: Callable[[], bytes], monkeypatch: pytest.MonkeyPatch
):
    old, new = new_key(), new_key()
    use_keys(old)
    for i in range(7):
        secret_set(name=f"b{i}", value=_value())
    monkeypatch.setattr(secrets, "ROTATE_BATCH", 3)
    use_keys(new, old)
    assert secrets_rotate() == 7
    use_keys(new)
    assert all(secret_reveal(f"b{i}") for i in range(7))


def test_rotating_twice_is_harmless_and_an_empty_table_rotates_nothing(
    use_keys: Callable[..., None], new_key: Callable[[], bytes]
):
    use_keys(new_key())
    assert secrets_rotate() == 0
    value = _value()
    secret_set(name="twice", value=value)
    assert secrets_rotate() == 1
    assert secrets_rotate() == 1
    assert secret_reveal("twice") == value


def test_a_row_no_configured_key_opens_fails_loudly_and_is_left_as_it_was(
    use_keys: Callable[..., None], new_key: Callable[[], bytes]
):
    lost = new_key()
    use_keys(lost)
    secret_set(name="orphan", value=_value())
    before = _ciphertext("orphan")
    use_keys(new_key())
    with pytest.raises(SecretUnreadable, match="orphan"):
        secret_reveal("orphan")
    with pytest.raises(SecretUnreadable, match="orphan"):
        secrets_rotate()
    assert _ciphertext("orphan") == before


# --- where the key comes from ---------------------------------------------------------------


def _key_file(settings: Settings, path: Path, *, create: bool) -> None:
    settings.CONTROLROOM = {
        **settings.CONTROLROOM,
        "FERNET_KEYS": [],
        "FERNET_KEY_FILE": path,
        "FERNET_KEY_CREATE": create,
    }


def test_without_any_key_in_production_the_first_use_fails_with_a_clear_message(
    settings: Settings, tmp_path: Path
):
    _key_file(settings, tmp_path / "fernet_key", create=False)
    with pytest.raises(SecretsNotConfigured) as caught:
        secret_set(name="x", value=_value())
    message = str(caught.value)
    assert "CONTROLROOM_FERNET_KEYS" in message and str(tmp_path / "fernet_key") in message
    with pytest.raises(SecretsNotConfigured):
        secrets_rotate()
    assert not (tmp_path / "fernet_key").exists()


def test_the_key_file_is_made_once_and_then_reused(settings: Settings, tmp_path: Path):
    path = tmp_path / "data" / "fernet_key"
    _key_file(settings, path, create=True)
    value = _value()
    secret_set(name="filed", value=value)
    key = path.read_text().strip()
    assert path.stat().st_mode & 0o777 == 0o600
    assert Fernet(key.encode()).decrypt(_ciphertext("filed")).decode() == value
    assert secret_reveal("filed") == value
    assert path.read_text().strip() == key


def test_processes_racing_to_make_the_key_file_agree_on_one_key(settings: Settings, tmp_path: Path):
    path = tmp_path / "fernet_key"
    barrier = threading.Barrier(8)
    seen: list[bytes] = []

    def make() -> None:
        barrier.wait()
        keyring._write_key_once(path)
        seen.append(path.read_bytes())

    threads = [threading.Thread(target=make) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(seen)) == 1
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left behind


def test_a_key_file_holding_garbage_fails_loudly(settings: Settings, tmp_path: Path):
    path = tmp_path / "fernet_key"
    path.write_text("not-a-key\n")
    _key_file(settings, path, create=True)
    with pytest.raises(SecretsNotConfigured, match="does not hold a Fernet key"):
        secret_set(name="x", value=_value())
