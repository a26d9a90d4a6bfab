"""What the configured e-mail backend does with a message: its *transport*, as the outbox
records it per message and as pages and ``manage.py check`` report it.

A transport is a short string: ``smtp://host:port`` (handed to that mail server), or
``console`` / ``locmem`` / ``file`` / ``dummy`` (kept inside this machine: not delivered), or
the backend's dotted path for any other Django backend (assumed to deliver).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core import checks
from django.core.mail import get_connection
from django.core.mail.backends import console, dummy, filebased, locmem, smtp
from django.core.mail.backends.base import BaseEmailBackend

# Subclass order matters: console's file-based sibling subclasses it.
_LOCAL: tuple[tuple[type[BaseEmailBackend], str], ...] = (
    (filebased.EmailBackend, "file"),
    (console.EmailBackend, "console"),
    (locmem.EmailBackend, "locmem"),
    (dummy.EmailBackend, "dummy"),
)
_LOCAL_LABELS = {
    "console": "Printed to the console (not delivered)",
    "locmem": "Kept in memory (not delivered)",
    "file": "Written to a file (not delivered)",
    "dummy": "Discarded (not delivered)",
}


def mail_transport(*, connection: BaseEmailBackend) -> str:
    """The transport ``connection`` hands messages to (see the module docstring)."""
    if isinstance(connection, smtp.EmailBackend):
        return f"smtp://{connection.host}:{connection.port}"
    for backend, name in _LOCAL:
        if isinstance(connection, backend):
            return name
    kind = type(connection)
    return f"{kind.__module__}.{kind.__qualname__}"


def mail_transport_current() -> str:
    """The transport of the backend ``EMAIL_BACKEND`` names right now (opens no connection)."""
    return mail_transport(connection=get_connection(fail_silently=True))


def transport_delivers(transport: str) -> bool:
    """True unless ``transport`` keeps messages inside this machine (``""``: not sent yet)."""
    return bool(transport) and transport not in _LOCAL_LABELS


def transport_describe(transport: str) -> str:
    """What happened to a message handed to ``transport``, in words for a page."""
    if not transport:
        return ""
    if transport in _LOCAL_LABELS:
        return _LOCAL_LABELS[transport]
    if transport.startswith("smtp://"):
        return f"Handed to SMTP {transport.removeprefix('smtp://')}"
    return f"Handed to {transport}"


def email_delivery_check(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Warn when settings that must deliver e-mail (``CONTROLROOM["EMAIL_MUST_DELIVER"]``, set
    by the production settings) run on a backend that keeps messages on this machine."""
    if not settings.CONTROLROOM.get("EMAIL_MUST_DELIVER"):
        return []
    transport = mail_transport_current()
    if transport_delivers(transport):
        return []
    return [
        checks.Warning(
            f"E-mail is not delivered: the {transport!r} backend keeps every message on this "
            "machine (the outbox shows them as not delivered).",
            hint="Set CONTROLROOM_EMAIL_URL=smtp://user:password@host:587?tls=1 "
            "(or smtps://…) to send the outbox through a mail server.",
            id="controlroom.W001",
        )
    ]
