"""What the one websocket may subscribe to, and what each subscription is sent.

The consumer (``controlroom.consumers``) knows no app. Apps register a *topic* per subscription
name at start-up (``flows`` registers ``run``, ``runs``, ``flow``, ``inbox``, ``approvals`` and
``home`` in its ``AppConfig.ready``). A client subscribes with keys such as ``run.<uuid>`` or
``runs``; the topic named by the part before the first dot opens a ``Subscription`` for the
user, or refuses (``None``) when the key is malformed, the object does not exist, or the user
may not see it. Every subscription names the bus group its events arrive on.

For htmx pages a subscription renders server-side HTML: ``sync()`` once when it opens (what
changed between the page render and the socket opening) and ``render(events)`` for each batch
of bus events since. Both return out-of-band fragments (``hx-swap-oob``) made from the same
partial templates the page renders; each is sent as its own websocket message, because the
browser parses a message as one piece of HTML and table rows only parse as the first element of
their piece. ``render`` may yield its fragments: each is sent as soon as it is made, so a page
shows its most direct change first, before the rest is rendered. Both run on the consumers'
database thread (one per process, ``controlroom.consumers``), one call at a time, so a
subscription may keep state (which rows the page holds) without locks.

A subscription renders as soon as its event arrives (events arriving meanwhile join its next
render): a page about one object, such as a run, shows each change at once. A subscription
where every run's events land (lists, the home page) declares ``min_interval`` (seconds) and is
*paced*: its first event waits ``BURST_WINDOW`` for the rest of its burst (one commit's events
arrive as several messages), and it renders at most once per ``min_interval``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Protocol

from controlroom.roles import Capability, can

MAX_KEY_LENGTH = 100
#: How long a paced subscription's first event waits for the rest of its burst (seconds).
BURST_WINDOW = 0.05


class Subscription(Protocol):
    group: str

    def sync(self) -> list[str]: ...

    def render(self, events: Sequence[Mapping[str, Any]]) -> Iterable[str]: ...


#: ``opener(argument, user, params)``: ``argument`` is the key after the first dot ("" if
#: none), ``params`` the socket's query parameters. Returns None to refuse.
Opener = Callable[[str, Any, Mapping[str, str]], Subscription | None]

_TOPICS: dict[str, Opener] = {}


def register(name: str, opener: Opener) -> None:
    """Make ``name`` (``name`` or ``name.<argument>`` keys) subscribable. Idempotent."""
    _TOPICS[name] = opener


def subscription_open(key: str, *, user: Any, params: Mapping[str, str]) -> Subscription | None:
    """Open ``key`` for ``user``, or None when it is unknown, malformed or not allowed.
    Reads the database: call from a thread, not the event loop."""
    if not isinstance(key, str) or not key or len(key) > MAX_KEY_LENGTH:
        return None
    if not can(user, Capability.VIEW):
        return None
    name, _, argument = key.partition(".")
    opener = _TOPICS.get(name)
    if opener is None:
        return None
    return opener(argument, user, params)
