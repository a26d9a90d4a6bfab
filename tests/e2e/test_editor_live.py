"""The editor's live views over its one websocket, against the real stack (uvicorn + Channels +
Redis, a Celery worker, Chromium): the live overlay follows a step moving inside a running run
(that run's own events; nothing is read while nothing moves), and a test run still lands after
the websocket drops (the client reconnects with backoff and subscribes again)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from playwright.sync_api import Page, Request, WebSocketRoute, expect

from controlroom.roles import Role
from flows.engine.runs import run_start
from flows.versions import flow_save, flow_version_publish
from tests.e2e.test_editor import PATIENCE_MS, ROOT, STARTER, canvas_node, log_in, write_then_end
from tests.support.stack import AsgiServer, ManagedProcess
from tests.support.wait import stays

# committed rows: the web server and worker processes read them through their own connections
pytestmark = pytest.mark.django_db(transaction=True)

SOCKET = re.compile(r"/ws/")

# Two agent steps in a row: the run stays `running` from one to the other, so only the run's own
# group (run.<id>) hears the step move; then an approval the run waits on.
TWO_STEPS: dict[str, Any] = {
    **STARTER,
    "slug": "two-drafts",
    "name": "Two drafts",
    "agents": [{**STARTER["agents"][0], "script": {"latency_ms": 3000, "responses": ["A draft."]}}],
    "nodes": [
        {"id": "first", "type": "agent", "config": {"agent": "writer", "prompt": "One"}},
        {"id": "second", "type": "agent", "config": {"agent": "writer", "prompt": "Two"}},
        {"id": "review", "type": "approval", "config": {"title": "Sign"}},
        {"id": "done", "type": "end"},
    ],
    "edges": [
        {"from": "first", "to": "second"},
        {"from": "second", "to": "review"},
        {"from": "review", "to": "done"},
    ],
}

SLOW_NOTE: dict[str, Any] = {
    **STARTER,
    "slug": "slow-note",
    "name": "Slow note",
    "agents": [{**STARTER["agents"][0], "script": {"latency_ms": 1500, "responses": ["A note."]}}],
    **write_then_end("Write"),
}


@pytest.fixture
def stack(
    asgi_server: AsgiServer, celery_worker: ManagedProcess, celery_beat: ManagedProcess
) -> AsgiServer:
    """The stack of tests/e2e/test_editor.py (importing that fixture by name trips ruff F811)."""
    assert (ROOT / "static" / "editor" / "editor.js").exists(), "run `make assets` first"
    return asgi_server


def test_the_live_overlay_follows_a_step_inside_a_running_run_without_polling(
    page: Page, stack: AsgiServer
) -> None:
    flow, version = flow_save(document=json.loads(json.dumps(TWO_STEPS)))
    flow_version_publish(flow=flow, version=version)
    log_in(page, stack.url, "dee", Role.DESIGNER)
    run_start(flow=flow, input={"topic": "live"})
    page.goto(f"{stack.url}/flows/{flow.slug}/edit/")

    expect(canvas_node(page, "first").locator(".step-load")).to_have_text(
        "1 in progress", timeout=PATIENCE_MS
    )
    expect(canvas_node(page, "second").locator(".step-load")).to_have_text(
        "1 in progress", timeout=PATIENCE_MS
    )
    expect(canvas_node(page, "first").locator(".step-load")).to_have_count(0)
    review = canvas_node(page, "review").locator(".step-load")
    expect(review).to_have_text("1 waiting", timeout=PATIENCE_MS)

    # Nothing moves while the run waits for a person: nothing is read. One read may still be due
    # for the run's last event; a poll every 3 s would read at least twice in this watch.
    reads: list[str] = []

    def count_load_reads(request: Request) -> None:
        if request.url.endswith(f"/api/flows/{flow.slug}/load"):
            reads.append(request.url)

    page.on("request", count_load_reads)
    stays(lambda: len(reads) <= 1, seconds=7, message="no read of the load while nothing moves")
    expect(review).to_have_text("1 waiting")


def test_a_test_run_lands_after_the_websocket_drops(page: Page, stack: AsgiServer) -> None:
    """The first socket is closed by the test right after the server confirms the run's
    subscription, before the run's events: without a reconnect the run would stay queued."""
    flow, _ = flow_save(document=json.loads(json.dumps(SLOW_NOTE)))
    connections: list[WebSocketRoute] = []

    def drop_the_first(ws: WebSocketRoute) -> None:
        connections.append(ws)
        server = ws.connect_to_server()
        if len(connections) > 1:
            return  # later sockets pass through untouched

        def forward_then_drop(message: str | bytes) -> None:
            ws.send(message)
            frame = json.loads(message)
            if frame.get("type") == "subscribed" and any(
                g.startswith("run.") for g in frame.get("groups", [])
            ):
                ws.close(code=4000, reason="dropped by the test")
                server.close()

        server.on_message(forward_then_drop)

    page.route_web_socket(SOCKET, drop_the_first)
    log_in(page, stack.url, "dee", Role.DESIGNER)
    page.goto(f"{stack.url}/flows/{flow.slug}/edit/")
    page.get_by_role("button", name="Run draft").click()

    run = page.locator("[data-run-status]")
    expect(run).to_have_attribute("data-run-status", "succeeded", timeout=PATIENCE_MS)
    expect(run).to_have_attribute("data-run-link", "live")
    assert len(connections) >= 2
    for node_id in ("write", "done"):
        expect(canvas_node(page, node_id).locator(".step-node")).to_have_attribute(
            "data-state", "succeeded"
        )
