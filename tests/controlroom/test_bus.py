"""The event bus sends to the groups that have members, and only to those.

Runs against the real Redis channel layer: membership is what the layer records in Redis.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import channel_layers, get_channel_layer

from controlroom import bus


@pytest.fixture(autouse=True)
def fresh_channel_layer() -> Iterator[None]:
    """A channel layer per test: a Redis layer keeps per-event-loop state, and each test runs
    its own loop."""
    channel_layers.backends.clear()
    yield
    channel_layers.backends.clear()


@pytest.fixture
def group_sends(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The groups the layer is asked to send to, in order."""
    layer = get_channel_layer()
    assert layer is not None
    sent: list[str] = []
    real = layer.group_send

    async def counting(group: str, message: dict[str, Any]) -> None:
        sent.append(group)
        await real(group, message)

    monkeypatch.setattr(layer, "group_send", counting)
    return sent


def event(*groups: str) -> bus.Event:
    return bus.Event(type="run.changed", groups=groups, data={"run_id": "r"})


def test_a_group_without_members_is_not_sent_to(group_sends: list[str]) -> None:
    bus.send_now(event("run.nobody-watches", "flow.nobody-watches"))
    assert group_sends == []


def test_only_the_groups_with_members_are_sent_to_and_their_members_get_the_event(
    group_sends: list[str],
) -> None:
    layer = get_channel_layer()
    assert layer is not None

    async def body() -> None:
        channel = await layer.new_channel()
        await layer.group_add("run.watched", channel)
        try:
            published = event("run.watched", "flow.nobody-watches", "home")
            await sync_to_async(bus.send_now)(published)
            assert group_sends == ["run.watched"]
            message = await asyncio.wait_for(layer.receive(channel), timeout=5)
            assert message["type"] == bus.MESSAGE_TYPE
            assert message["event"]["id"] == published.id
        finally:
            await layer.group_discard("run.watched", channel)

    async_to_sync(body)()


def test_a_group_whose_last_member_left_is_not_sent_to(group_sends: list[str]) -> None:
    layer = get_channel_layer()
    assert layer is not None

    async def body() -> None:
        channel = await layer.new_channel()
        await layer.group_add("run.left", channel)
        await layer.group_discard("run.left", channel)
        await sync_to_async(bus.send_now)(event("run.left"))

    async_to_sync(body)()
    assert group_sends == []
