"""The engine's outward hooks (``flows.engine.hooks``) are all filled in at start-up: a hook
left at its default would quietly skip the kill switch, Celery or the event triggers."""

from __future__ import annotations

import dataclasses

from flows.engine import hooks


def test_every_hook_is_registered_when_the_app_is_ready() -> None:
    defaults = hooks.Hooks()
    unregistered = [
        field.name
        for field in dataclasses.fields(hooks.Hooks)
        if getattr(hooks.HOOKS, field.name) == getattr(defaults, field.name)
    ]
    assert unregistered == []


def test_run_finished_listeners_run_in_the_order_registered() -> None:
    from flows import traces
    from flows.triggers import events

    assert hooks.HOOKS.run_finished == (traces.run_trace_end, events.run_finished_after_commit)
