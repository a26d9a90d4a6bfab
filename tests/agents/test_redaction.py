"""Redaction: stored secret values and credential shapes never survive ``redact``, and the log
handlers configured in settings run it over every line, traceback included."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import uuid
from collections.abc import Iterator
from urllib.parse import quote

import pytest
from django.db import transaction

from agents import redaction
from agents.models import Secret
from agents.redaction import REDACTED, RedactingFilter, redact, redact_mapping, redact_value
from agents.secrets import keyring, secret_delete, secret_set

pytestmark = pytest.mark.django_db


def _value() -> str:
    return f"sv-{uuid.uuid4().hex}"


def test_a_stored_value_is_redacted_wherever_it_appears():
    value = _value()
    secret_set(name="crm", value=value)
    text = f"401 from CRM: token {value} rejected ({value})"
    assert redact(text) == f"401 from CRM: token {REDACTED} rejected ({REDACTED})"


def test_a_value_escaped_in_json_or_percent_encoded_is_redacted_too():
    value = f'pa"ss/wörd {uuid.uuid4().hex}'
    secret_set(name="odd", value=value)
    for form in (json.dumps({"password": value}), quote(value, safe=""), value):
        assert "pa" not in redact(form).replace("password", ""), form


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("key sk-abcdefghijklmnop1234 bad", f"key {REDACTED} bad"),
        ("sk-ant-api03-AbCdEfGhIjKlMnOpQrStUv_-xyz", REDACTED),
        ("sk-proj-0123456789abcdefABCDEF", REDACTED),
        ("Authorization: Bearer eyJhbGciOi.JIUzI1NiJ9.abc", f"Authorization: Bearer {REDACTED}"),
        ("{'authorization': 'Basic dXNlcjpwYXNz'}", f"{{'authorization': 'Basic {REDACTED}'}}"),
        ('{"Authorization": "tok_live_12345"}', f'{{"Authorization": "{REDACTED}"}}'),
        ("sent bearer abcdefgh12345678 upstream", f"sent bearer {REDACTED} upstream"),
        (
            "https://api.example/v1?api_key=abc123&q=1",
            f"https://api.example/v1?api_key={REDACTED}&q=1",
        ),
        ("x-api-key: 0123456789", f"x-api-key: {REDACTED}"),
        ("ghp_" + "a" * 36, REDACTED),
        ("xoxb-1234567890-abcdefghij", REDACTED),
        ("AKIAIOSFODNN7EXAMPLE", REDACTED),
        ("AIza" + "B" * 35, REDACTED),
    ],
)
def test_obvious_credential_shapes_are_redacted_without_being_stored(text, expected):
    assert redact(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "the task-force met; risk-free; ask-me-anything",
        "authorization failed for user ada",
        "Bearer of bad news",
        "token budget exceeded: 1200 > 1000",
        "see https://example.com/api/keys for details",
        '{"api_key": {"type": "string"}, "authorization": ["x"]}',
    ],
)
def test_ordinary_text_is_left_alone(text):
    assert redact(text) == text


def test_very_short_values_are_not_redacted_by_value():
    secret_set(name="pin", value="7")
    assert redact("step 7 of 7") == "step 7 of 7"


def test_a_value_stored_by_another_process_is_redacted_once_the_cache_expires(
    monkeypatch: pytest.MonkeyPatch,
):
    value = _value()
    # Another process's secret_set: the row appears without this process being told.
    Secret.objects.create(name="elsewhere", ciphertext=keyring().encrypt(value.encode()))
    monkeypatch.setattr(redaction, "CACHE_SECONDS", 0.0)
    assert redact(f"echo {value}") == f"echo {REDACTED}"


def test_a_deleted_secret_is_no_longer_loaded_but_this_process_still_scrubs_what_it_used(
    monkeypatch: pytest.MonkeyPatch,
):
    value = _value()
    secret_set(name="temp", value=value)
    secret_delete(name="temp")
    monkeypatch.setattr(redaction, "CACHE_SECONDS", 0.0)
    assert redact(value) == REDACTED


def test_redact_value_reaches_every_string_in_json_data():
    value = _value()
    secret_set(name="nested", value=value)
    data = {"a": [value, {"b": f"x{value}x", value: 3}], "n": 1, "none": None, "ok": True}
    assert redact_value(data) == {
        "a": [REDACTED, {"b": f"x{REDACTED}x", REDACTED: 3}],
        "n": 1,
        "none": None,
        "ok": True,
    }


def test_redact_mapping_redacts_keys_and_values_into_a_new_dict():
    value = _value()
    secret_set(name="mapped", value=value)
    data = {value: "k", "headers": {"X-Key": value}, "list": [f"{value}!"], "n": 2}
    assert redact_mapping(data) == {
        REDACTED: "k",
        "headers": {"X-Key": REDACTED},
        "list": [f"{REDACTED}!"],
        "n": 2,
    }
    assert data["headers"] == {"X-Key": value}


def test_redacting_inside_an_open_transaction_leaves_it_usable(monkeypatch: pytest.MonkeyPatch):
    value = _value()
    secret_set(name="tx", value=value)
    monkeypatch.setattr(redaction, "CACHE_SECONDS", 0.0)
    with transaction.atomic():
        assert redact(value) == REDACTED
        assert Secret.objects.filter(name="tx").exists()


def test_redacting_inside_an_event_loop_uses_the_known_values_without_the_orm(
    monkeypatch: pytest.MonkeyPatch,
):
    value = _value()
    secret_set(name="loop", value=value)
    monkeypatch.setattr(redaction, "CACHE_SECONDS", 0.0)

    async def in_loop() -> str:
        return redact(f"{value} sk-abcdefghijklmnopqrst")

    assert asyncio.run(in_loop()) == f"{REDACTED} {REDACTED}"


# --- logging ------------------------------------------------------------------------------------


@pytest.fixture
def console() -> Iterator[io.StringIO]:
    """What the console handler configured by settings.LOGGING writes, captured."""
    handlers = [
        handler
        for handler in logging.getLogger().handlers
        if any(isinstance(f, RedactingFilter) for f in handler.filters)
    ]
    assert handlers, "settings.LOGGING installs the redacting filter on the console handler"
    stream = io.StringIO()
    previous = [handler.setStream(stream) for handler in handlers]  # type: ignore[attr-defined]
    yield stream
    for handler, old in zip(handlers, previous, strict=True):
        handler.setStream(old)  # type: ignore[attr-defined]


def test_a_secret_never_reaches_a_log_line(console: io.StringIO):
    value = _value()
    secret_set(name="logged", value=value)
    log = logging.getLogger("agents.providers.openai")
    log.warning("provider said: invalid key %s", value)
    log.error("request headers: %r", {"Authorization": "Bearer abcdefgh12345678"})
    try:
        raise RuntimeError(f"upstream refused {value}")
    except RuntimeError:
        log.exception("call failed with %s", value)
    output = console.getvalue()
    assert value not in output
    assert "abcdefgh12345678" not in output
    assert output.count(REDACTED) >= 4
    assert "RuntimeError: upstream refused [redacted]" in output  # the traceback, scrubbed
    assert "provider said: invalid key [redacted]" in output


def test_a_malformed_log_call_is_still_reported_not_swallowed(console: io.StringIO):
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "%s %s", ("one",), None)
    assert RedactingFilter().filter(record) is True
