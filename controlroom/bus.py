"""The event bus: the only code that talks to the Channels layer.

Events are typed and built by functions; ``publish`` sends them after the surrounding
transaction commits (never for work that rolled back). Groups: ``run.<id>``, ``flow.<id>``,
``runs``, ``inbox``, ``home``, ``user.<id>``. The websocket consumer turns an event into HTML
fragments for htmx pages or passes it on as JSON to the editor island.

``account.<user id>`` is the consumer's own control group: every socket of a user joins it, no
client can subscribe to it, and it carries only ``access.changed`` (``access_changed``), after
which each of the user's sockets checks its session again and closes or drops what it may no
longer see.

Only groups that have a member are sent to. Most events name groups nobody watches (a run's
page is rarely open while it runs), and a ``group_send`` costs Redis round trips even to an
empty group; one pipelined look-up per batch asks the layer's own membership records instead.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
import threading
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from channels_redis.core import RedisChannelLayer
from django.db import transaction

logger = logging.getLogger(__name__)

#: The Channels message type the consumer handles (``bus.event`` → ``bus_event``).
MESSAGE_TYPE = "bus.event"


@dataclass(frozen=True)
class Event:
    type: str  # step.changed | run.changed | approval.changed | ...
    groups: tuple[str, ...]
    data: dict[str, Any] = field(default_factory=dict)
    # Lets a consumer subscribed to several of ``groups`` handle one publish once.
    id: str = field(default_factory=lambda: uuid.uuid4().hex)


#: The event type telling a user's sockets that their access may have changed (logout,
#: deactivation, a new role): never sent to a client, handled by the consumer itself.
ACCESS_CHANGED = "access.changed"


def account_group(user_id: int) -> str:
    """The control group every websocket of user ``user_id`` joins."""
    return f"account.{user_id}"


def access_changed(*, user_id: int) -> Event:
    """The event that makes each open socket of ``user_id`` re-check its session and its
    subscriptions (``controlroom.consumers``)."""
    return Event(type=ACCESS_CHANGED, groups=(account_group(user_id),), data={"user": user_id})


def publish(event: Event) -> None:
    """Send ``event`` to its groups once the current transaction commits.

    Events of one transaction go out together, in order, in one hand-off to a background
    sender, so committing a step costs no broker round trip.
    """
    connection = transaction.get_connection()
    if not connection.in_atomic_block:
        _PUBLISHER.submit([event])
        return
    # The outermost Atomic lives exactly as long as the transaction: a rollback discards it
    # and its batch together, a commit runs the callback that ships the batch.
    outermost = connection.atomic_blocks[0]
    batch: list[Event] | None = getattr(outermost, "_bus_batch", None)
    if batch is None:
        batch = []
        outermost._bus_batch = batch
        transaction.on_commit(lambda: _PUBLISHER.submit(batch))
    batch.append(event)


async def _send(layer: Any, events: list[Event]) -> None:
    occupied = await _occupied(layer, [group for event in events for group in event.groups])
    for event in events:
        message = {"type": MESSAGE_TYPE, "event": asdict(event)}
        for group in event.groups:
            if group in occupied:
                await layer.group_send(group, message)


async def _occupied(layer: Any, groups: list[str]) -> set[str]:
    """The ``groups`` that have at least one member, in one pipelined round trip per shard.

    Reads the records ``group_send`` itself reads: channels_redis keeps each group as a sorted
    set of its channels, deleted by Redis when its last member leaves. A group found empty here
    is one ``group_send`` would have delivered to nobody, so skipping it loses nothing; a socket
    joining after the look-up renders the current state when it subscribes
    (``controlroom.live``), which includes this batch's commit. Other layers are sent every group.
    """
    if not isinstance(layer, RedisChannelLayer):
        return set(groups)
    shards: dict[int, list[str]] = {}
    for group in dict.fromkeys(groups):
        shards.setdefault(layer.consistent_hash(group), []).append(group)
    occupied: set[str] = set()
    for index, names in shards.items():
        async with layer.connection(index).pipeline(transaction=False) as pipe:
            for name in names:
                pipe.exists(layer._group_key(name))
            found = await pipe.execute()
        occupied.update(name for name, count in zip(names, found, strict=True) if count)
    return occupied


def send_now(event: Event) -> None:
    """Send immediately and wait. Failures are logged, never raised: live updates are best
    effort, the database is the record, and pages load the current state when they open."""
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(_send)(layer, [event])
    except Exception:  # the broker being down must not fail the step that committed
        logger.warning("could not publish %s to %s", event.type, event.groups, exc_info=True)


class _Publisher:
    """One event loop thread per process that owns the channel layer's connections.

    Created lazily and again after a fork (Celery's prefork children), because threads and
    event loops do not survive ``fork``.
    """

    def __init__(self) -> None:
        self._pid: int | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()

    def _ensure_loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None or self._pid != os.getpid():
                loop = asyncio.new_event_loop()
                threading.Thread(target=loop.run_forever, name="bus", daemon=True).start()
                self._loop, self._pid = loop, os.getpid()
            return self._loop

    def submit(self, events: list[Event]) -> concurrent.futures.Future[None] | None:
        layer = get_channel_layer()
        if layer is None or not events:
            return None
        future = asyncio.run_coroutine_threadsafe(_send(layer, events), self._ensure_loop())
        future.add_done_callback(_log_failure)
        return future


def _log_failure(future: concurrent.futures.Future[None]) -> None:
    error = future.exception()
    if error is not None:
        logger.warning("could not publish events: %r", error)


_PUBLISHER = _Publisher()
