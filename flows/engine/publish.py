"""Handing queued steps to the workers: published after commit, or left for a batch dispatcher.

A queued step is published once its transaction commits, through the ``step_publish`` hook
(or run next by this worker, ``flows.engine.continuation``). Inside ``publish_deferred()`` it
is left unpublished (``enqueued_at`` NULL) for ``flows.triggers.dispatch`` to hand over in a
batch; the reconciler is the backstop for either.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar

from flows.engine import continuation
from flows.engine.hooks import HOOKS
from flows.models import Step

_PUBLISH_DEFERRED: ContextVar[bool] = ContextVar("flows_publish_deferred", default=False)


def publishing_deferred() -> bool:
    """Whether the caller is inside ``publish_deferred()`` (new queued steps stay unpublished)."""
    return _PUBLISH_DEFERRED.get()


@contextlib.contextmanager
def publish_deferred() -> Iterator[None]:
    """Within this block, queued steps are not published after commit: the caller leaves them
    unpublished (``enqueued_at`` NULL) for ``flows.triggers.dispatch`` to hand over in a batch
    (hot ingestion paths), and the reconciler picks up the same rows as a backstop."""
    token = _PUBLISH_DEFERRED.set(True)
    try:
        yield
    finally:
        _PUBLISH_DEFERRED.reset(token)


def enqueue_step(step: Step) -> None:
    """Publish a queued step to the workers after commit (the ``step_publish`` hook), unless
    inside ``publish_deferred()``; the reconciler covers a failed publish."""
    if _PUBLISH_DEFERRED.get():
        return
    if continuation.offer(step):
        return  # this worker runs it next, after the commit (eager continuation)
    HOOKS.step_publish(step)
