"""Which version a trigger starts: the live one, and only the live one.

Every non-manual trigger — webhooks, public forms, schedules, events — asks
``trigger_version_get``; a flow with no live version refuses them all (409) rather than run an
unpublished draft that never passed the launch checklist. Manual starts (the API's
``POST /api/flows/<slug>/runs``, the editor's "run draft", the logged-in start form) do not
come here: a person who may operate the flow may run a draft on purpose.
"""

from __future__ import annotations

from flows.engine import claims
from flows.models import Flow, FlowVersion


class NotLive(Exception):
    """The flow has no live version: a trigger may not start it (HTTP 409)."""

    status = 409
    code = "no_live_version"

    def __init__(self, flow: Flow) -> None:
        self.message = f"flow {flow.slug!r} has no live version; publish it first"
        super().__init__(self.message)


def trigger_version_get(*, flow: Flow) -> FlowVersion:
    """The version a trigger of ``flow`` starts: its live version (cached per process: a
    version is immutable). Raises ``NotLive`` when no version is live; never falls back to the
    latest draft."""
    if flow.live_version_id is None:
        raise NotLive(flow)
    return claims.version_get(flow.live_version_id)
