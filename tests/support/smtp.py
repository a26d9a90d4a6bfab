"""A real SMTP server on loopback (aiosmtpd) that keeps every message it is handed, so a test
can count deliveries at the receiving side: by recipient, and by Message-ID for duplicates."""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from email import message_from_bytes
from types import TracebackType
from typing import Any

from aiosmtpd.controller import Controller

from controlroom import devstack


class SmtpSink:
    """``with SmtpSink() as sink:`` — serves on ``sink.url`` (``smtp://127.0.0.1:<port>``)."""

    def __init__(self, *, delay: float = 0.0) -> None:
        self.delay = delay  # seconds each message takes, as a real server's round trips do
        self.port = devstack.free_port()
        self.messages: list[dict[str, str]] = []
        self._lock = threading.Lock()
        self._controller = Controller(self, hostname=devstack.LOOPBACK, port=self.port)

    @property
    def url(self) -> str:
        return f"smtp://{devstack.LOOPBACK}:{self.port}"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.delay:
            await asyncio.sleep(self.delay)
        message = message_from_bytes(envelope.content)
        with self._lock:
            for recipient in envelope.rcpt_tos:
                self.messages.append(
                    {
                        "to": recipient,
                        "message_id": str(message["Message-ID"] or ""),
                        "subject": str(message["Subject"] or ""),
                        "body": _text(message),
                    }
                )
        return "250 OK"

    def received(self) -> list[dict[str, str]]:
        with self._lock:
            return list(self.messages)

    def per_recipient(self) -> Counter[str]:
        return Counter(message["to"] for message in self.received())

    def __enter__(self) -> SmtpSink:
        self._controller.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._controller.stop()


def _text(message: Any) -> str:
    """The message's plain-text body, decoded."""
    part = next((p for p in message.walk() if p.get_content_type() == "text/plain"), message)
    payload = part.get_payload(decode=True) or b""
    return payload.decode(part.get_content_charset() or "utf-8", errors="replace")
