"""Real HTTP servers on loopback that speak the OpenAI and Anthropic protocols, for tests that
drive the official SDKs.

Each server answers with the replies a test queued, in order, and records every request it
received (path, headers, JSON body). A reply may wait before answering (for client timeouts),
carry any status and headers (429 with ``Retry-After``, 500...), or be a raw body. When the
queue is empty the server answers 500 with a message saying so, so a test that expected fewer
calls fails loudly.

    with FakeLLM("openai") as server:
        server.push(openai_text("hello", tokens_in=12, tokens_out=3))
        ... base_url=server.url ...
        assert server.requests[0].body["model"] == "gpt-test"
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

import pytest

Protocol = Literal["openai", "anthropic"]


@dataclass
class Reply:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    raw: bytes | None = None


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


class FakeLLM:
    """One server; ``url`` is the base URL to give the SDK."""

    def __init__(self, protocol: Protocol) -> None:
        self.protocol = protocol
        self.replies: deque[Reply] = deque()
        self.requests: list[Received] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        root = f"http://{host!s}:{port}"
        return f"{root}/v1" if self.protocol == "openai" else root

    def push(self, *replies: Reply) -> FakeLLM:
        with self._lock:
            self.replies.extend(replies)
        return self

    def next_reply(self, received: Received) -> Reply:
        with self._lock:
            self.requests.append(received)
            if self.replies:
                return self.replies.popleft()
        return Reply(status=500, body={"error": {"message": "the fake has no reply queued"}})

    def start(self) -> FakeLLM:
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread.is_alive():  # shutdown() waits for a serve_forever that must be running
            self._server.shutdown()
            self._thread.join(timeout=5)
        self._server.server_close()

    def __enter__(self) -> FakeLLM:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _handler(server: FakeLLM) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                body = raw.decode("utf-8", "replace")
            received = Received(
                method="POST",
                path=self.path,
                headers={key.lower(): value for key, value in self.headers.items()},
                body=body,
            )
            reply = server.next_reply(received)
            if reply.delay:
                time.sleep(reply.delay)
            payload = reply.raw if reply.raw is not None else json.dumps(reply.body).encode()
            try:
                self.send_response(reply.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up first (a timeout test)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


# --- OpenAI chat completions --------------------------------------------------------------------


def openai_text(
    text: str, *, model: str = "gpt-test", tokens_in: int = 10, tokens_out: int = 5
) -> Reply:
    return _openai_reply(
        {"role": "assistant", "content": text}, "stop", model, tokens_in, tokens_out
    )


def openai_tool_calls(
    *calls: tuple[str, str, str],
    model: str = "gpt-test",
    tokens_in: int = 10,
    tokens_out: int = 5,
    finish_reason: str = "tool_calls",
) -> Reply:
    """Tool calls as ``(id, name, arguments JSON text)`` — the text may be malformed on purpose."""
    message = {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": id_, "type": "function", "function": {"name": name, "arguments": arguments}}
            for id_, name, arguments in calls
        ],
    }
    return _openai_reply(message, finish_reason, model, tokens_in, tokens_out)


def _openai_reply(
    message: dict[str, Any], finish_reason: str, model: str, tokens_in: int, tokens_out: int
) -> Reply:
    return Reply(
        body={
            "id": "chatcmpl-test",
            "object": "chat.completion",
            "created": 1_700_000_000,
            "model": model,
            "choices": [{"index": 0, "message": message, "finish_reason": finish_reason}],
            "usage": {
                "prompt_tokens": tokens_in,
                "completion_tokens": tokens_out,
                "total_tokens": tokens_in + tokens_out,
            },
        }
    )


def openai_error(status: int, message: str, *, headers: dict[str, str] | None = None) -> Reply:
    return Reply(
        status=status,
        body={"error": {"message": message, "type": "test_error", "code": None}},
        headers=headers or {},
    )


# --- Anthropic messages -------------------------------------------------------------------------


def anthropic_text(
    text: str, *, model: str = "claude-test", tokens_in: int = 10, tokens_out: int = 5
) -> Reply:
    return _anthropic_reply(
        [{"type": "text", "text": text}], "end_turn", model, tokens_in, tokens_out
    )


def anthropic_tool_use(
    *calls: tuple[str, str, Any],
    text: str = "",
    model: str = "claude-test",
    tokens_in: int = 10,
    tokens_out: int = 5,
    stop_reason: str = "tool_use",
) -> Reply:
    """``tool_use`` blocks as ``(id, name, input)``."""
    blocks: list[dict[str, Any]] = [{"type": "text", "text": text}] if text else []
    blocks += [
        {"type": "tool_use", "id": id_, "name": name, "input": input_}
        for id_, name, input_ in calls
    ]
    return _anthropic_reply(blocks, stop_reason, model, tokens_in, tokens_out)


def _anthropic_reply(
    content: list[dict[str, Any]], stop_reason: str, model: str, tokens_in: int, tokens_out: int
) -> Reply:
    return Reply(
        body={
            "id": "msg_test",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": content,
            "stop_reason": stop_reason,
            "stop_sequence": None,
            "usage": {"input_tokens": tokens_in, "output_tokens": tokens_out},
        }
    )


def anthropic_error(status: int, message: str, *, headers: dict[str, str] | None = None) -> Reply:
    kind = {429: "rate_limit_error", 529: "overloaded_error"}.get(status, "api_error")
    return Reply(
        status=status,
        body={"type": "error", "error": {"type": kind, "message": message}},
        headers=headers or {},
    )


# --- fixtures -----------------------------------------------------------------------------------


@pytest.fixture
def openai_server() -> Iterator[FakeLLM]:
    with FakeLLM("openai") as server:
        yield server


@pytest.fixture
def anthropic_server() -> Iterator[FakeLLM]:
    with FakeLLM("anthropic") as server:
        yield server
