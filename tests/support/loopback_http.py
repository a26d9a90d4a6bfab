"""A real HTTP server on loopback for egress and ``http`` tool tests.

It counts TCP connections as well as requests, so a test can assert that a refused request
never reached it. Each path answers with the ``Reply`` a test set, or one computed from the
request (``respond``), or an echo of the request: method, path, headers, body, as JSON.
As a canary, ``saw(value)`` says whether any request it received carried ``value`` anywhere.

    with LoopbackHTTP() as server:
        server.route("/flaky", Reply(status=503), Reply(status=200))
        ... server.url("/flaky") ...
        assert server.connections == 1
"""

from __future__ import annotations

import json
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    status: int = 200
    body: bytes | Any = b""  # bytes as they are; anything else as JSON
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # before the status line
    drip: float = 0.0  # between body chunks of 1 KiB
    send_length: bool = True


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]  # names lowercased
    body: bytes


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    connections = 0

    def get_request(self) -> tuple[socket.socket, Any]:
        request = super().get_request()
        self.connections += 1
        return request


class LoopbackHTTP:
    def __init__(self, host: str = "127.0.0.1", *, tls: ssl.SSLContext | None = None) -> None:
        self.routes: dict[str, list[Reply]] = {}
        self.responders: dict[str, Callable[[Received], Reply]] = {}
        self.requests: list[Received] = []
        self._lock = threading.Lock()
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        server_class = type("_LoopbackServer", (_Server,), {"address_family": family})
        self._server = server_class((host, 0), _handler(self))
        if tls is not None:
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True)
        self.scheme = "https" if tls is not None else "http"
        self.host = host
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def __enter__(self) -> LoopbackHTTP:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def connections(self) -> int:
        return self._server.connections

    def url(self, path: str = "/", host: str | None = None) -> str:
        shown = host or (f"[{self.host}]" if ":" in self.host else self.host)
        return f"{self.scheme}://{shown}:{self.port}{path}"

    def route(self, path: str, *replies: Reply) -> None:
        """Answer ``path`` with ``replies`` in order, the last one from then on."""
        self.routes[path] = list(replies)

    def respond(self, path: str, responder: Callable[[Received], Reply]) -> None:
        """Answer ``path`` with what ``responder`` makes of each request."""
        self.responders[path] = responder

    def unroute(self, path: str) -> None:
        self.routes.pop(path, None)
        self.responders.pop(path, None)

    def saw(self, value: str) -> bool:
        """Whether any request so far carried ``value`` in its path, a header or its body."""
        with self._lock:
            requests = list(self.requests)
        return any(
            value in request.path
            or any(value in header for header in request.headers.values())
            or value.encode() in request.body
            for request in requests
        )

    def _reply(self, path: str, received: Received | None = None) -> Reply | None:
        responder = self.responders.get(path)
        if responder is not None and received is not None:
            return responder(received)
        with self._lock:
            queue = self.routes.get(path)
            if not queue:
                return None
            return queue.pop(0) if len(queue) > 1 else queue[0]

    def received(self, path: str) -> list[Received]:
        return [request for request in self.requests if request.path.split("?")[0] == path]


def _handler(owner: LoopbackHTTP) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _serve(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {name.lower(): value for name, value in self.headers.items()}
            received = Received(self.command, self.path, headers, body)
            with owner._lock:
                owner.requests.append(received)
            reply = owner._reply(self.path.split("?")[0], received) or _echo(received)
            time.sleep(reply.delay)
            content = (
                reply.body if isinstance(reply.body, bytes) else json.dumps(reply.body).encode()
            )
            self.send_response(reply.status)
            headers = {"Content-Type": "application/json", **reply.headers}
            for name, value in headers.items():
                self.send_header(name, value)
            if reply.send_length:
                self.send_header("Content-Length", str(len(content)))
            else:
                self.send_header("Connection", "close")
            self.end_headers()
            if self.command == "HEAD":
                return
            try:
                for start in range(0, len(content), 1024):
                    self.wfile.write(content[start : start + 1024])
                    self.wfile.flush()
                    time.sleep(reply.drip)
            except (BrokenPipeError, ConnectionResetError):
                pass
            if not reply.send_length:
                self.close_connection = True

        do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

    return Handler


def _echo(received: Received) -> Reply:
    return Reply(
        body={
            "method": received.method,
            "path": received.path,
            "headers": received.headers,
            "body": received.body.decode("utf-8", errors="replace"),
        }
    )


def egress_configure(settings: Any, monkeypatch: Any, entries: str = "", **limits: Any) -> None:
    """Set ``CONTROLROOM_EGRESS_ALLOW`` (and limits) the way a deployment does, through
    ``controlroom.env``, and load the result into ``settings`` for this test."""
    from dataclasses import replace

    from controlroom import env

    monkeypatch.setenv("CONTROLROOM_EGRESS_ALLOW", entries)
    loaded = env.load().egress
    settings.CONTROLROOM = {**settings.CONTROLROOM, "EGRESS": replace(loaded, **limits)}
