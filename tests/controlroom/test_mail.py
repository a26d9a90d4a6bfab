"""controlroom/mail.py: what the configured backend does with a message, and the system check
that warns production settings when nothing is delivered."""

from __future__ import annotations

import pytest
from django.core.mail import get_connection
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from pytest_django.fixtures import Settings

from controlroom.mail import (
    email_delivery_check,
    mail_transport,
    transport_delivers,
    transport_describe,
)

CONSOLE = "django.core.mail.backends.console.EmailBackend"
SMTP = "django.core.mail.backends.smtp.EmailBackend"


def test_an_smtp_backend_is_named_by_its_host_and_port(settings: Settings) -> None:
    settings.EMAIL_HOST, settings.EMAIL_PORT = "mx.example.com", 587
    transport = mail_transport(connection=get_connection(SMTP))
    assert transport == "smtp://mx.example.com:587"
    assert transport_delivers(transport)
    assert transport_describe(transport) == "Handed to SMTP mx.example.com:587"


def test_the_console_is_not_delivery() -> None:
    transport = mail_transport(connection=get_connection(CONSOLE))
    assert transport == "console"
    assert not transport_delivers(transport)
    assert transport_describe(transport) == "Printed to the console (not delivered)"
    assert not transport_delivers("")  # not sent yet


def test_production_settings_on_the_console_get_a_check_warning(settings: Settings) -> None:
    settings.EMAIL_BACKEND = CONSOLE
    settings.CONTROLROOM = {**settings.CONTROLROOM, "EMAIL_MUST_DELIVER": True}
    [warning] = email_delivery_check()
    assert warning.id == "controlroom.W001"
    assert "not delivered" in warning.msg and "CONTROLROOM_EMAIL_URL" in str(warning.hint)
    # `manage.py check` reports it (and fails on it when warnings are made fatal).
    with pytest.raises(SystemCheckError, match=r"controlroom\.W001"):
        call_command("check", fail_level="WARNING")


def test_no_warning_when_smtp_is_configured_or_outside_production(settings: Settings) -> None:
    settings.CONTROLROOM = {**settings.CONTROLROOM, "EMAIL_MUST_DELIVER": True}
    settings.EMAIL_BACKEND = SMTP
    assert email_delivery_check() == []
    settings.EMAIL_BACKEND = CONSOLE
    settings.CONTROLROOM = {**settings.CONTROLROOM, "EMAIL_MUST_DELIVER": False}
    assert email_delivery_check() == []
