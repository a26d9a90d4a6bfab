"""Step commit → websocket frame, against a raw ``group_send`` to the same socket's group.

Through the public websocket only: a logged-in client fetches a run's page from uvicorn
(``controlroom.asgi``), opens the websocket address the page names (``ws-connect``: the htmx
fragments the page swaps in) and a second one on the same address with ``format=json`` (the
editor island's events). The run's one agent step (the offline model, answering after
``BENCH_FRAME_STEP_MS``) runs in this process through the ``flows.step_execute`` task's body,
as a worker runs it, so both ends share one clock. A sample, per socket, is the time from a
step transition's commit (the claim, then the completion, each stamped as its commit returns
to this process) to the first frame that socket receives after it. Comparator: the message
the engine published for that transition (captured from the Redis channel layer), sent again
with ``group_send`` to the run's group under a fresh event id — the channel layer's and the
consumer's own cost, the same rendering included. Subject and comparator alternate, run after
run (``BENCH_FRAME_RUNS``). Targets on the run page's (htmx) socket: p50 ≤ 5 ms, p99 ≤ 25 ms.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import html
import re
import threading
import time
import uuid
from collections.abc import Coroutine
from typing import Any

import httpx
import pytest
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import connections
from django.test import Client
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from controlroom.accounts import user_ensure
from controlroom.roles import Role
from flows.engine import runs
from flows.models import Step
from flows.tasks import step_execute_task
from tests.bench import harness
from tests.support.flows import document, node, save, scripted
from tests.support.stack import AsgiServer
from tests.support.wait import wait_for

# committed rows: the web server reads the run, the session and the steps on its own connection
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(900)]

RUNS = harness.int_knob("BENCH_FRAME_RUNS", 30)
STEP_MS = harness.int_knob("BENCH_FRAME_STEP_MS", 200)
READS = ("SELECT", "SHOW")
QUIET = 0.15  # seconds without frames after which a socket counts as settled (> the flush delay)


class Socket:
    """A websocket client whose messages are stamped on arrival by a reader thread."""

    def __init__(self, url: str, *, origin: str, cookie: str) -> None:
        self.exit = contextlib.ExitStack()
        self.connection: ClientConnection = self.exit.enter_context(
            connect(
                url,
                origin=origin,  # type: ignore[arg-type]
                additional_headers={"Cookie": cookie},
                proxy=None,
                max_size=None,
            )
        )
        self.frames: list[float] = []
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        try:
            for _ in self.connection:
                self.frames.append(time.perf_counter())
        except ConnectionClosed:
            return

    def first_after(self, start: float) -> float | None:
        return next((stamp for stamp in list(self.frames) if stamp > start), None)

    def frame_after(self, start: float) -> None:
        """Wait for a frame after ``start``, then for the socket to fall quiet."""
        wait_for(lambda: self.first_after(start), timeout=5, interval=0.002, message="a frame")
        self.settle()

    def settle(self, *, timeout: float = 5.0) -> None:
        """Return once no frame arrived for ``QUIET`` seconds (counted from now at the least)."""
        since = time.perf_counter()
        wait_for(
            lambda: time.perf_counter() - max([since, *self.frames[-1:]]) > QUIET,
            timeout=timeout,
            interval=0.01,
            message="the socket to fall quiet",
        )

    def close(self) -> None:
        self.exit.close()
        self.thread.join(timeout=5)


class Layer:
    """The Redis channel layer on an event loop of its own: listens to a group (stamping each
    message) and sends raw ``group_send``s (stamped just before the send)."""

    def __init__(self) -> None:
        self.layer = get_channel_layer()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.captured: list[tuple[float, dict[str, Any]]] = []
        self.listener: asyncio.Future[Any] | None = None
        self.channel = ""

    def _call(self, coroutine: Coroutine[Any, Any, Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=10)

    def listen(self, group: str) -> None:
        self.captured.clear()
        if not self.channel:
            self.channel = self._call(self.layer.new_channel())
            self.listener = asyncio.run_coroutine_threadsafe(self._receive(), self.loop)
        self._call(self.layer.group_add(group, self.channel))

    def forget(self, group: str) -> None:
        self._call(self.layer.group_discard(group, self.channel))

    async def _receive(self) -> None:
        while True:
            message = await self.layer.receive(self.channel)
            self.captured.append((time.perf_counter(), message))

    def first_after(self, start: float, until: float | None) -> dict[str, Any] | None:
        for stamp, message in list(self.captured):
            if stamp > start and (until is None or stamp < until):
                return message
        return None

    def send(self, group: str, message: dict[str, Any]) -> float:
        async def send() -> float:
            stamp = time.perf_counter()
            await self.layer.group_send(group, message)
            return stamp

        return float(self._call(send()))

    def close(self) -> None:
        if self.listener is not None:
            self.listener.cancel()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)


def _fresh(message: dict[str, Any]) -> dict[str, Any]:
    """The message again, under a new event id (the consumer drops an id it has seen)."""
    again = copy.deepcopy(message)
    event = again.get("event")
    if isinstance(event, dict) and "id" in event:
        event["id"] = uuid.uuid4().hex
    return again


def _latency(socket: Socket, start: float, until: float | None) -> float | None:
    stamp = socket.first_after(start)
    if stamp is None or (until is not None and stamp >= until):
        return None
    return (stamp - start) * 1000


def _sockets(server: AsgiServer, page: httpx.Client, run_id: Any, cookie: str) -> dict[str, Socket]:
    """The run page's websocket, as the page names it, and the same one in JSON mode."""
    response = page.get(f"/runs/{run_id}/")
    assert response.status_code == 200, response.status_code
    match = re.search(r'ws-connect="([^"]+)"', response.text)
    assert match, "the run page names no websocket"
    url = server.ws_url + html.unescape(match.group(1))
    sockets = {
        "htmx": Socket(url, origin=server.url, cookie=cookie),
        "json": Socket(f"{url}&format=json", origin=server.url, cookie=cookie),
    }
    for socket in sockets.values():
        socket.settle()
    return sockets


def _execute_stamped(step_id: int) -> tuple[float, float]:
    """Execute the step here; the moments its claim and its completion committed.

    A commit is stamped when it returns to this process: ``COMMIT`` of a transaction block,
    or a writing statement run outside one (autocommit: the statement is its transaction).
    The claim is the first commit, the completion the last."""
    commits: list[float] = []
    wrapper = connections["default"]
    real_commit = wrapper._commit

    def stamped_commit() -> None:
        real_commit()
        commits.append(time.perf_counter())

    def stamped_autocommit(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        result = execute(sql, params, many, context)
        if wrapper.get_autocommit() and not sql.lstrip().upper().startswith(READS):
            commits.append(time.perf_counter())
        return result

    wrapper._commit = stamped_commit  # type: ignore[method-assign]
    try:
        with wrapper.execute_wrapper(stamped_autocommit):
            step_execute_task.run(step_id)  # the task body, without Celery around it
    finally:
        del wrapper._commit
    assert len(commits) >= 2, f"expected a claim and a completion commit, saw {commits}"
    return commits[0], commits[-1]


Samples = dict[str, dict[str, list[float]]]


def _one_run(
    flow: Any, server: AsgiServer, page: httpx.Client, layer: Layer, cookie: str
) -> tuple[Samples, int]:
    """One run's samples (subject, then comparator), per socket; and how many commits had no
    frame of their own."""
    samples: Samples = {mode: {"ours": [], "comparator": []} for mode in ("htmx", "json")}
    missed = 0
    run, _ = runs.run_start(flow=flow, input={})
    sockets = _sockets(server, page, run.id, cookie)
    group = f"run.{run.id}"
    layer.listen(group)
    try:
        claim, done = _execute_stamped(Step.objects.get(run=run).id)
        for socket in sockets.values():
            socket.frame_after(done)
        for mode, socket in sockets.items():
            for start, until in ((claim, done), (done, None)):
                value = _latency(socket, start, until)
                missed += value is None
                samples[mode]["ours"] += [] if value is None else [value]
        published = [layer.first_after(claim, done), layer.first_after(done, None)]
        replays = [message for message in published if message is not None]
        assert replays, "no event of the step reached the channel layer"
        for message in replays:
            sent = layer.send(group, _fresh(message))
            for socket in sockets.values():
                socket.frame_after(sent)
            for mode, socket in sockets.items():
                value = _latency(socket, sent, None)
                samples[mode]["comparator"] += [] if value is None else [value]
    finally:
        for socket in sockets.values():
            socket.close()
        layer.forget(group)
    return samples, missed


def test_step_commit_to_websocket_frame(own_asgi_server: AsgiServer) -> None:
    user = user_ensure(username="bench-frames", role=Role.ADMIN, password="bench-frames-pw")
    browser = Client()
    browser.force_login(user)
    session = browser.cookies[settings.SESSION_COOKIE_NAME].value
    cookie = f"{settings.SESSION_COOKIE_NAME}={session}"
    flow = save(
        document(
            "bench-frames",
            [node("work", "agent", agent="slow")],
            [],
            agents=[scripted("slow", "ok", latency_ms=STEP_MS)],
        )
    )
    samples: Samples = {mode: {"ours": [], "comparator": []} for mode in ("htmx", "json")}
    missed = 0
    layer = Layer()
    page = httpx.Client(base_url=own_asgi_server.url, headers={"Cookie": cookie})
    try:
        _one_run(flow, own_asgi_server, page, layer, cookie)  # warms both paths, not counted
        for _ in range(RUNS):
            run_samples, run_missed = _one_run(flow, own_asgi_server, page, layer, cookie)
            missed += run_missed
            for mode, sides in run_samples.items():
                for side, values in sides.items():
                    samples[mode][side] += values
    finally:
        page.close()
        layer.close()
    _record(samples, missed)


def _record(samples: Samples, missed: int) -> None:
    bench = harness.Benchmark(
        "step_frames",
        "step commit -> websocket frame vs a raw group_send to the same socket's group",
        settings={"runs": RUNS, "step_ms": STEP_MS, "samples_per_run": 2},
    )
    bench.rounds = RUNS
    bench.order = ["ours", "comparator"] * RUNS
    labels = {"htmx": "run page socket (htmx)", "json": "run page socket, JSON events"}
    for mode, label in labels.items():
        ours, comparator = samples[mode]["ours"], samples[mode]["comparator"]
        for q, bound in ((50, 5.0), (99, 25.0)):
            bench.add(
                harness.Measure(
                    f"{label} p{q}",
                    "ms",
                    ours=harness.percentile(ours, q),
                    comparator=harness.percentile(comparator, q),
                    comparator_label="raw group_send",
                    target=harness.Target("ours", "<=", bound, "ms") if mode == "htmx" else None,
                    ours_samples=ours,
                    comparator_samples=comparator,
                )
            )
    bench.extra["commits_without_a_frame_of_their_own"] = missed
    bench.notes.append(
        "Samples are the step's commits that were followed by a frame before the next commit; "
        "a commit publishing no event (e.g. a claim, when claims publish none) has no sample "
        "and is counted in commits_without_a_frame_of_their_own (per socket)."
    )
    bench.save()
