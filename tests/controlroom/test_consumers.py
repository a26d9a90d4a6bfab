"""The one websocket: who may connect, what may be subscribed, what each event sends.

Runs through the real Redis channel layer; the database is shared with the consumer's worker
threads, hence ``transaction=True``.
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
import uuid
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.layers import channel_layers
from channels.testing import WebsocketCommunicator
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser
from django.db import connections
from django.db.backends.signals import connection_created

from controlroom import bus, live
from controlroom.accounts import user_ensure
from controlroom.consumers import EventsConsumer
from controlroom.roles import Role
from flows import selectors
from flows.engine import runner, runs
from flows.models import Flow, Run, Step
from flows.versions import flow_save

# committed rows: events are sent on commit; database_sync_to_async closes the test's connection
pytestmark = pytest.mark.django_db(transaction=True)


def two_step_document() -> dict[str, Any]:
    return {
        "schema": "controlroom.flow/v1",
        "slug": "ws-flow",
        "name": "WS flow",
        "agents": [
            {"slug": "bot", "provider": "scripted", "script": {"responses": ["one", "two"]}}
        ],
        "nodes": [
            {"id": "first", "type": "agent", "config": {"agent": "bot", "prompt": "go"}},
            {"id": "second", "type": "agent", "config": {"agent": "bot", "prompt": "again"}},
        ],
        "edges": [{"from": "first", "to": "second"}],
    }


@pytest.fixture(autouse=True)
def fresh_channel_layer() -> Iterator[None]:
    """A channel layer per test: each test runs its own event loop, and a Redis layer keeps
    per-loop receive state that must not outlive the loop."""
    channel_layers.backends.clear()
    yield
    channel_layers.backends.clear()


@pytest.fixture
def viewer() -> Any:
    return user_ensure(username="viewer", role=Role.VIEWER)


@pytest.fixture
def flow() -> Flow:
    flow, _ = flow_save(document=two_step_document())
    return flow


@pytest.fixture
def run(flow: Flow) -> Run:
    run, _ = runs.run_start(flow=flow, input={})
    return run


def connect_to(user: Any, query: str) -> WebsocketCommunicator:
    communicator = WebsocketCommunicator(EventsConsumer.as_asgi(), f"/ws/?{query}")
    communicator.scope["user"] = user
    return communicator


def scenario(body: Callable[[], Awaitable[None]]) -> None:
    async_to_sync(body)()


async def frames(communicator: WebsocketCommunicator, *, quiet: float = 0.6) -> list[str]:
    """The next message (the first render in a process also loads the URLconf, so allow it
    time), then every further one until the socket has been quiet for ``quiet`` seconds."""
    received = [await communicator.receive_from(timeout=10)]
    while not await communicator.receive_nothing(timeout=quiet):
        received.append(await communicator.receive_from())
    return received


def execute_next_step(run: Run) -> Step:
    step = Step.objects.filter(run=run, status="queued").order_by("id").first()
    assert step is not None
    runner.step_execute(step_id=step.id)
    step.refresh_from_db()
    return step


def test_anonymous_connections_are_refused() -> None:
    async def body() -> None:
        communicator = connect_to(AnonymousUser(), "subscribe=runs")
        connected, _ = await communicator.connect()
        assert not connected

    scenario(body)


def test_unknown_missing_and_malformed_subscriptions_are_ignored_with_an_error_frame(
    viewer: Any, flow: Flow
) -> None:
    refused = ["bogus", f"run.{uuid.uuid4()}", "run.not-a-uuid", "flow.999999", "runs.extra"]

    async def body() -> None:
        communicator = connect_to(viewer, "format=json&subscribe=" + ",".join([*refused, "runs"]))
        connected, _ = await communicator.connect()
        assert connected
        assert await communicator.receive_json_from() == {"type": "subscribed", "groups": ["runs"]}
        error = await communicator.receive_json_from()
        assert error["type"] == "error" and error["code"] == "subscription_refused"
        assert error["groups"] == refused
        await communicator.disconnect()

    scenario(body)


def test_a_user_without_a_role_may_subscribe_to_nothing(flow: Flow, run: Run) -> None:
    outsider = get_user_model().objects.create_user(username="outsider")

    async def body() -> None:
        communicator = connect_to(outsider, f"format=json&subscribe=runs,run.{run.id}")
        assert (await communicator.connect())[0]
        error = await communicator.receive_json_from()
        assert error["type"] == "error" and error["groups"] == ["runs", f"run.{run.id}"]
        await communicator.disconnect()

    scenario(body)


def test_json_clients_subscribe_by_message(viewer: Any, run: Run) -> None:
    async def body() -> None:
        communicator = connect_to(viewer, "format=json")
        assert (await communicator.connect())[0]
        await communicator.send_json_to({"type": "subscribe", "groups": [f"run.{run.id}", "nope"]})
        assert await communicator.receive_json_from() == {
            "type": "subscribed",
            "groups": [f"run.{run.id}"],
        }
        assert (await communicator.receive_json_from())["groups"] == ["nope"]
        await communicator.send_to(text_data="not json")
        assert (await communicator.receive_json_from())["code"] == "bad_message"
        await communicator.disconnect()

    scenario(body)


def test_json_clients_get_each_event_once_as_published(viewer: Any, run: Run) -> None:
    async def body() -> None:
        # run.changed goes to both groups; the client must see it once.
        communicator = connect_to(viewer, f"format=json&subscribe=run.{run.id},runs")
        assert (await communicator.connect())[0]
        await communicator.receive_json_from()  # subscribed
        step = await database_sync_to_async(execute_next_step)(run)
        events = [json.loads(text) for text in await frames(communicator)]
        step_events = [e for e in events if e["type"] == "step.changed"]
        assert step_events and all(e["data"]["run_id"] == str(run.id) for e in step_events)
        assert {e["data"]["step_id"] for e in step_events} >= {step.id}
        ids = [e["id"] for e in events]
        assert len(ids) == len(set(ids))
        await communicator.disconnect()

    scenario(body)


def test_an_idle_socket_outlives_the_layers_blocking_read(viewer: Any, run: Run) -> None:
    """The layer waits on Redis with a blocking pop; a read timeout no longer than that wait
    (redis-py 8 defaults to 5 s, as long as channels_redis's pop) dropped idle sockets."""
    layer = channel_layers["default"]

    async def body() -> None:
        communicator = connect_to(viewer, f"format=json&subscribe=run.{run.id}")
        assert (await communicator.connect())[0]
        await communicator.receive_json_from()  # subscribed
        # Stay idle past the layer's blocking read (taking whatever the run's creation still
        # sends), then the socket must still deliver.
        await asyncio.sleep(layer.brpop_timeout + 1.5)
        while not await communicator.receive_nothing(timeout=0.3):
            await communicator.receive_from()
        await database_sync_to_async(execute_next_step)(run)
        events = [json.loads(text) for text in await frames(communicator)]
        assert any(e["type"] == "step.changed" for e in events)
        await communicator.disconnect()

    scenario(body)


def test_a_step_change_sends_its_timeline_row_and_the_node_state(viewer: Any, run: Run) -> None:
    async def body() -> None:
        rev = await database_sync_to_async(selectors.run_rev)(run_id=run.id)
        communicator = connect_to(viewer, f"subscribe=run.{run.id}&rev={rev}")
        assert (await communicator.connect())[0]
        assert await communicator.receive_nothing(timeout=0.3)  # up to date: nothing to sync
        step = await database_sync_to_async(execute_next_step)(run)
        html = "\n".join(await frames(communicator))
        assert f'id="step-{step.id}"' in html
        assert 'data-state="succeeded"' in html and ">succeeded<" in html
        assert '<svg id="flow-graph"' in html
        assert (
            'id="node-first" class="node node-agent state-succeeded" data-state="succeeded"' in html
        )
        assert 'id="run-header"' in html
        await communicator.disconnect()

    scenario(body)


def test_a_run_page_renders_a_change_at_once_while_a_paced_list_waits(
    viewer: Any, run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The run page is not paced: with the burst window stretched to a minute its frame still
    comes, and the paced runs list on the same socket does not hold it back. The changed
    step's row goes out first, before the rest of the page is rendered."""
    monkeypatch.setattr(live, "BURST_WINDOW", 60.0)

    async def body() -> None:
        rev = await database_sync_to_async(selectors.run_rev)(run_id=run.id)
        communicator = connect_to(viewer, f"subscribe=run.{run.id},runs&rev={rev}")
        assert (await communicator.connect())[0]
        synced = "\n".join(await frames(communicator))
        assert f'id="run-row-{run.id}"' in synced  # the list's rows; the run page is current
        step = await database_sync_to_async(execute_next_step)(run)
        received = await frames(communicator)
        assert f'<details id="step-{step.id}" ' in received[0]
        html = "\n".join(received)
        assert re.search(rf'<details id="step-{step.id}" [^>]*data-state="succeeded"', html)
        assert "run-row-" not in html  # the list waits out its window
        await communicator.disconnect()

    scenario(body)


def test_renders_keep_their_database_connection_where_requests_keep_none(
    viewer: Any, run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The ASGI server keeps no database connection between requests (CONN_MAX_AGE=0); a
    socket's subscribing and renders must not connect anew each time."""
    monkeypatch.setitem(connections["default"].settings_dict, "CONN_MAX_AGE", 0)
    connections["default"].close()  # from here on this thread's connections are not kept either
    rev = selectors.run_rev(run_id=run.id)
    engine = "engine"
    opened: list[str] = []

    def count(**kwargs: Any) -> None:
        opened.append(threading.current_thread().name)

    def step() -> None:  # as a worker would, on a thread of its own
        threading.current_thread().name = engine
        try:
            execute_next_step(run)
        finally:
            connections.close_all()

    async def body() -> None:
        communicator = connect_to(viewer, f"subscribe=run.{run.id}&rev={rev}")
        assert (await communicator.connect())[0]
        for _ in range(2):  # each step: a claim and a completion, each rendered
            await asyncio.to_thread(step)
            assert await frames(communicator)
        await communicator.disconnect()

    connection_created.connect(count)
    try:
        scenario(body)
    finally:
        connection_created.disconnect(count)
    assert len([name for name in opened if name != engine]) <= 1, opened


def test_a_new_step_is_inserted_once_then_replaced(viewer: Any, run: Run) -> None:
    async def body() -> None:
        rev = await database_sync_to_async(selectors.run_rev)(run_id=run.id)
        communicator = connect_to(viewer, f"subscribe=run.{run.id}&rev={rev}")
        assert (await communicator.connect())[0]
        assert await communicator.receive_nothing(timeout=0.3)
        first = await database_sync_to_async(execute_next_step)(run)
        html = "\n".join(await frames(communicator))
        second = await database_sync_to_async(Step.objects.get)(run=run, node_id="second")
        # `first` was on the page already; `second` was created by this change.
        assert f'<details id="step-{first.id}" class="step"' in html
        assert 'hx-swap-oob="beforeend:#timeline-rows"' in html
        assert html.count(f'id="step-{second.id}"') == 1
        await database_sync_to_async(execute_next_step)(run)
        html = "\n".join(await frames(communicator))
        assert "beforeend:#timeline-rows" not in html
        replaced = re.search(rf'<details id="step-{second.id}" [^>]*>', html)
        assert replaced is not None
        assert 'data-state="succeeded"' in replaced[0] and 'hx-swap-oob="true"' in replaced[0]
        await communicator.disconnect()

    scenario(body)


def test_a_page_older_than_the_run_is_brought_up_to_date_on_connect(viewer: Any, run: Run) -> None:
    async def body() -> None:
        await database_sync_to_async(execute_next_step)(run)
        communicator = connect_to(viewer, f"subscribe=run.{run.id}&rev=1")
        assert (await communicator.connect())[0]
        html = "\n".join(await frames(communicator))
        for element_id in ("run-header", "flow-graph", "timeline-rows", "run-approvals"):
            assert f'id="{element_id}"' in html
        assert 'id="node-first" class="node node-agent state-succeeded"' in html
        await communicator.disconnect()

    scenario(body)


def test_the_runs_list_gains_new_runs_on_top_and_updates_rows_in_place(
    viewer: Any, flow: Flow, run: Run
) -> None:
    async def body() -> None:
        communicator = connect_to(viewer, "subscribe=runs")
        assert (await communicator.connect())[0]
        synced = await communicator.receive_from()
        assert synced.startswith('\n<tbody id="runs-rows" hx-swap-oob="true">')
        assert f'id="run-row-{run.id}"' in synced
        newer, _ = await database_sync_to_async(runs.run_start)(flow=flow, input={})
        html = "\n".join(await frames(communicator))
        assert '<tbody hx-swap-oob="afterbegin:#runs-rows">' in html
        assert f'id="run-row-{newer.id}"' in html
        for _ in range(2):  # the run succeeds with its second step
            await database_sync_to_async(execute_next_step)(run)
        html = "\n".join(await frames(communicator))
        assert f'<tr id="run-row-{run.id}" hx-swap-oob="true">' in html
        assert ">succeeded<" in html
        await communicator.disconnect()

    scenario(body)


def test_approval_changes_update_the_navigation_badge(viewer: Any, run: Run) -> None:
    async def body() -> None:
        communicator = connect_to(viewer, "subscribe=inbox")
        assert (await communicator.connect())[0]
        badge = await communicator.receive_from()
        assert 'id="nav-approvals-badge"' in badge and "is-zero" in badge
        await database_sync_to_async(bus.send_now)(
            bus.Event(type="approval.changed", groups=("inbox",), data={"approval_id": 1})
        )
        assert 'id="nav-approvals-badge"' in await communicator.receive_from()
        await communicator.disconnect()

    scenario(body)


def test_a_costly_subscription_renders_at_most_once_per_interval(
    viewer: Any, flow: Flow, run: Run
) -> None:
    """The home page declares ``min_interval``: a stream of events costs one render per
    interval, and the last render shows the state after the last event."""

    async def body() -> None:
        communicator = connect_to(viewer, "subscribe=home")
        assert (await communicator.connect())[0]
        synced = await frames(communicator)
        assert any('id="home-counters"' in part for part in synced)
        loop = asyncio.get_running_loop()
        started = loop.time()
        for _ in range(6):
            await database_sync_to_async(runs.run_start)(flow=flow, input={})
            await asyncio.sleep(0.1)
        counters = [
            part for part in await frames(communicator, quiet=1.5) if 'id="home-counters"' in part
        ]
        elapsed = loop.time() - started
        assert 1 <= len(counters) <= int(elapsed / 1.0) + 1, (len(counters), elapsed)
        assert '<span class="kpi-value">7</span>' in counters[-1]  # all seven runs in flight
        await communicator.disconnect()

    scenario(body)
