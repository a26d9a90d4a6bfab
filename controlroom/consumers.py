"""The one websocket, at ``/ws/``.

Anonymous connections are refused at the handshake. A client subscribes with the query string
(``?subscribe=run.<uuid>,runs,flow.<id>``) and/or JSON messages
(``{"type": "subscribe", "groups": [...]}``, ``{"type": "unsubscribe", "groups": [...]}``).
Every key is checked by ``controlroom.live`` (known topic, object exists, user may see it);
refused keys are ignored, and JSON clients get an ``error`` frame naming them.

Sessions end when they end. Every socket joins its user's control group
(``bus.account_group``); a logout, a deactivation or a new role publishes ``access.changed``
there (``controlroom.accounts``), and the socket checks its session again: gone (logged out,
expired, password changed) or user inactive → closed with ``CLOSE_SESSION_ENDED``; roles changed
and none left that may view → closed with ``CLOSE_FORBIDDEN``; other roles → closed with
``CLOSE_ROLE_CHANGED`` (1012, which the htmx ws extension answers by reconnecting, so the page
subscribes again to what the new role allows); same roles → nothing changes. Every subscribe
checks the session the same way first and opens keys for the user as they are now, and so does
the first event after ``RECHECK_SECONDS`` without a check, in case an ``access.changed`` was
lost.

Events reach the consumer from ``controlroom.bus`` as channel messages of type ``bus.event``.
htmx clients (the default) are sent out-of-band HTML fragments rendered from the pages'
partials, each fragment as its own message. A subscription renders as soon as its event
arrives; the events that arrive while it renders go into its next render, so a burst costs a
render per render time, not per event. A *paced* subscription (one that declares
``min_interval``, see ``controlroom.live``) instead collects its events for
``live.BURST_WINDOW`` and renders at most once per interval: pages where every run's events
land. JSON clients (``?format=json``) get each event as it was published.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any
from urllib.parse import parse_qs

from asgiref.sync import async_to_sync, sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.db import connections

from controlroom import bus, jsondata, live
from controlroom.accounts import session_user, user_current
from controlroom.roles import Capability, Role, can, roles_of

logger = logging.getLogger(__name__)

MAX_SUBSCRIPTIONS = 20
SEEN_EVENTS = 256
#: Close code for a refused handshake's log line; the client sees an HTTP 403.
CLOSE_UNAUTHENTICATED = 4401
#: Close codes of an open socket whose session ended (logout, expiry, deactivation) or whose
#: user has no role left.
CLOSE_SESSION_ENDED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_ROLE_CHANGED = 1012
#: An open socket checks its session at least this often (seconds) when events arrive, in case
#: an ``access.changed`` event was lost.
RECHECK_SECONDS = 60.0

#: The one thread of this process on which the consumers read the database. It keeps its
#: connection: the ASGI server keeps none otherwise (``controlroom/asgi.py``: each HTTP request
#: runs on a thread of its own), and connecting anew for every render cost a live frame more
#: than the render itself. One thread, so one connection per process however many sockets.
_DATABASE = ThreadPoolExecutor(max_workers=1, thread_name_prefix="live-db")


# channels ships no type information: its consumer base class is Any to mypy.
class EventsConsumer(AsyncJsonWebsocketConsumer):  # type: ignore[misc]
    async def connect(self) -> None:
        self.subscriptions: dict[str, live.Subscription] = {}
        self.pending: dict[str, list[dict[str, Any]]] = {}
        self.pending_since: dict[str, float] = {}
        self.rendered_at: dict[str, float] = {}
        self.wake = asyncio.Event()
        self.seen: OrderedDict[str, None] = OrderedDict()
        self.flusher: asyncio.Task[None] | None = None
        self.closed = False
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        self.user = user
        self.user_id = user.pk
        self.roles = await _in_database_thread(roles_of, user)
        # A scope without a session is a consumer mounted without SessionMiddleware (unit
        # tests); the ASGI application always has one (controlroom/asgi.py).
        self.has_session = "session" in self.scope
        self.session_key = self.scope["session"].session_key if self.has_session else None
        self.checked_at = asyncio.get_running_loop().time()
        self.params = _query_params(self.scope.get("query_string", b""))
        self.json_mode = self.params.get("format") == "json"
        self.account_group = bus.account_group(self.user_id)
        await self.channel_layer.group_add(self.account_group, self.channel_name)
        await self.accept()
        await self.subscribe(_split_keys(self.params.get("subscribe", "")))

    async def disconnect(self, code: int) -> None:
        if self.flusher is not None:
            self.flusher.cancel()
        for group in {sub.group for sub in self.subscriptions.values()}:
            await self.channel_layer.group_discard(group, self.channel_name)
        if getattr(self, "account_group", None):
            await self.channel_layer.group_discard(self.account_group, self.channel_name)

    # --- the session --------------------------------------------------------------------------
    def _current_user(self) -> Any | None:
        """The socket's user as it is now, or None when its session ended (see the module
        docstring). Reads the database: runs on the database thread."""
        if self.has_session:
            return session_user(session_key=self.session_key, user_id=self.user_id)
        return user_current(user_id=self.user_id)

    async def _recheck(self) -> bool:
        """Check the session again (the module docstring says what follows); True when the
        socket stays open, with ``self.user`` read afresh."""
        self.checked_at = asyncio.get_running_loop().time()
        user, roles = await _in_database_thread(self._current_user_and_roles)
        if user is None:
            await self._end(CLOSE_SESSION_ENDED)
        elif roles != self.roles and not can(user, Capability.VIEW):
            await self._end(CLOSE_FORBIDDEN)
        elif roles != self.roles:
            # Subscriptions hold the user they were opened for; a new role re-opens them all
            # through the client's reconnect rather than patching their state here.
            await self._end(CLOSE_ROLE_CHANGED)
        else:
            self.user = user
            return True
        return False

    def _current_user_and_roles(self) -> tuple[Any | None, set[Role]]:
        user = self._current_user()
        return user, roles_of(user)

    async def _end(self, code: int) -> None:
        """Leave every group and close: nothing more reaches this socket."""
        self.pending.clear()
        if self.flusher is not None:
            self.flusher.cancel()
        await self.disconnect(code)
        self.subscriptions.clear()
        self.closed = True
        await self.close(code=code)

    # --- subscriptions ----------------------------------------------------------------------
    async def subscribe(self, keys: Iterable[str]) -> None:
        """Open ``keys`` for the user, after checking the session again (a socket whose
        session ended is closed instead)."""
        keys = list(keys)
        if not keys or self.closed or not await self._recheck():
            return
        wanted = [key for key in dict.fromkeys(keys) if key not in self.subscriptions]
        room = MAX_SUBSCRIPTIONS - len(self.subscriptions)
        opened, refused = await _in_database_thread(self._open, wanted[:room])
        refused += wanted[room:]
        for key, subscription in opened:
            await self.channel_layer.group_add(subscription.group, self.channel_name)
            self.subscriptions[key] = subscription
        if self.json_mode:
            if opened:
                await self.send_json({"type": "subscribed", "groups": [key for key, _ in opened]})
            if refused:
                await self._error("subscription_refused", "unknown or not allowed", refused)
            return
        # After group_add: anything that changes from here on arrives as an event, anything
        # before it is in what sync() reads now.
        fragments = await _in_database_thread(self._sync_html, [sub for _, sub in opened])
        await self._send_fragments(fragments)

    async def unsubscribe(self, keys: Iterable[str]) -> None:
        dropped = [self.subscriptions.pop(key) for key in keys if key in self.subscriptions]
        still = {sub.group for sub in self.subscriptions.values()}
        for group in {sub.group for sub in dropped} - still:
            await self.channel_layer.group_discard(group, self.channel_name)
        if self.json_mode:
            await self.send_json({"type": "unsubscribed", "groups": list(keys)})

    def _open(self, keys: list[str]) -> tuple[list[tuple[str, live.Subscription]], list[str]]:
        user = self.user
        opened, refused = [], []
        for key in keys:
            try:
                subscription = live.subscription_open(key, user=user, params=self.params)
            except Exception:
                logger.exception("opening subscription %r failed", key)
                subscription = None
            if subscription is None:
                refused.append(key)
            else:
                opened.append((key, subscription))
        return opened, refused

    def _sync_html(self, subscriptions: list[live.Subscription]) -> list[str]:
        return [html for sub in subscriptions for html in _safely(sub.sync)]

    async def _send_fragments(self, fragments: list[str]) -> None:
        for html in fragments:
            if html.strip():
                await self.send(text_data=html)

    # --- client messages (JSON clients) ----------------------------------------------------
    @classmethod
    async def decode_json(cls, text_data: str) -> Any:
        """The message as JSON, or None (answered as a bad message) for one that is not JSON
        or is nested too deeply to be a subscription (checked before parsing)."""
        try:
            return jsondata.json_parse(text_data, max_depth=8)
        except ValueError:
            return None

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        kind = content.get("type") if isinstance(content, dict) else None
        keys = content.get("groups") if isinstance(content, dict) else None
        if kind in {"subscribe", "unsubscribe"} and isinstance(keys, list) and _is_key_list(keys):
            if kind == "subscribe":
                await self.subscribe(keys)
            else:
                await self.unsubscribe(keys)
        elif self.json_mode:
            await self._error(
                "bad_message", 'expected {"type": "subscribe"|"unsubscribe", "groups": [...]}'
            )

    async def _error(self, code: str, message: str, groups: list[str] | None = None) -> None:
        frame: dict[str, Any] = {"type": "error", "code": code, "message": message}
        if groups is not None:
            frame["groups"] = groups
        await self.send_json(frame)

    # --- bus events -------------------------------------------------------------------------
    async def bus_event(self, message: dict[str, Any]) -> None:
        """One published event: ``access.changed`` checks the session again; any other event
        (after the periodic session check, once however many of its groups this socket is in)
        goes to a JSON client as it is, or into the pending renders of its subscriptions."""
        event = message.get("event") or {}
        if self.closed:
            return
        if event.get("type") == bus.ACCESS_CHANGED:
            await self._recheck()
            return
        overdue = asyncio.get_running_loop().time() - self.checked_at > RECHECK_SECONDS
        if overdue and not await self._recheck():
            return
        if not self._first_delivery(event.get("id")):
            return
        if self.json_mode:
            await self.send_json(event)
            return
        self._queue(event)

    def _first_delivery(self, event_id: str | None) -> bool:
        """False when the event ``event_id`` already reached this socket (one publish reaches
        this channel once per group it shares with the event); True, and remembered among the
        last ``SEEN_EVENTS``, otherwise. An event without an id always counts as new."""
        if not event_id:
            return True
        if event_id in self.seen:
            return False
        self.seen[event_id] = None
        if len(self.seen) > SEEN_EVENTS:
            self.seen.popitem(last=False)
        return True

    def _queue(self, event: dict[str, Any]) -> None:
        """Add ``event`` to the pending events of every subscription whose group it was
        published to, and wake the flusher (starting it when none runs)."""
        groups = set(event.get("groups") or ())
        now = asyncio.get_running_loop().time()
        for key, subscription in self.subscriptions.items():
            if subscription.group in groups:
                self.pending.setdefault(key, []).append(event)
                self.pending_since.setdefault(key, now)
        if self.pending:
            self.wake.set()
            if self.flusher is None or self.flusher.done():
                self.flusher = asyncio.create_task(self._flush())

    async def _flush(self) -> None:
        """Render what is due, one batch at a time; sleep until the next paced subscription is
        due or another event arrives."""
        while self.pending:
            due, wait = self._due()
            if not due:
                self.wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.wake.wait(), timeout=wait)
                continue
            batch = {key: self.pending.pop(key) for key in due}
            now = asyncio.get_running_loop().time()
            for key in due:
                del self.pending_since[key]
                self.rendered_at[key] = now
            await _in_database_thread(self._render, batch)

    def _due(self) -> tuple[list[str], float]:
        """The pending keys to render now, or else how long until the first of them is due."""
        now = asyncio.get_running_loop().time()
        due_at = {key: self._due_at(key) for key in self.pending}
        due = [key for key, at in due_at.items() if at <= now]
        return due, 0.0 if due else min(due_at.values()) - now

    def _due_at(self, key: str) -> float:
        """When ``key``'s pending events render: at once, unless its subscription is paced
        (``min_interval``): then ``live.BURST_WINDOW`` after its first pending event and
        ``min_interval`` after its previous render, whichever is later."""
        interval = getattr(self.subscriptions.get(key), "min_interval", 0.0)
        if not interval:
            return float("-inf")
        return max(
            self.pending_since[key] + live.BURST_WINDOW,
            self.rendered_at.get(key, float("-inf")) + interval,
        )

    def _render(self, batch: dict[str, list[dict[str, Any]]]) -> None:
        """Render each key's events, in a worker thread, sending every fragment as soon as it
        is made: the page gets the first change before the rest is rendered."""
        send = async_to_sync(self._send_fragments)
        for key, events in batch.items():
            subscription = self.subscriptions.get(key)
            if subscription is None:
                continue
            for html in _safely(partial(subscription.render, events)):
                with contextlib.suppress(Exception):  # the socket closed meanwhile
                    send([html])


async def _in_database_thread[T](func: Callable[..., T], *args: Any) -> T:
    """``func(*args)`` on the consumers' database thread (``_DATABASE``)."""
    call = sync_to_async(_with_usable_connection, thread_sensitive=False, executor=_DATABASE)
    return await call(func, *args)


def _with_usable_connection[T](func: Callable[..., T], *args: Any) -> T:
    # A connection that stopped answering (a database restart) is replaced, not used; one that
    # answers is kept whatever CONN_MAX_AGE says.
    for connection in connections.all(initialized_only=True):
        if connection.connection is not None and not connection.is_usable():
            connection.close()
    return func(*args)


def _safely(render: Callable[[], Iterable[str]]) -> Iterator[str]:
    """A failed render loses one live update (the page still reloads correctly); it must not
    close the socket. Fragments made before the failure are kept."""
    try:
        yield from render() or ()
    except Exception:
        logger.exception("live render failed")


def _query_params(raw: bytes) -> dict[str, str]:
    parsed = parse_qs(raw.decode("latin-1"), keep_blank_values=False)
    return {name: values[-1] for name, values in parsed.items()}


def _split_keys(value: str) -> list[str]:
    return [key.strip() for key in value.split(",") if key.strip()]


def _is_key_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(key, str) for key in value)
