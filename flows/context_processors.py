"""Template context every signed-in page needs from flows: the pending approvals count and
the global kill switch."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from controlroom.roles import Role, roles_of
from flows.approvals import pages as approval_pages
from flows.killswitch import selectors as killswitch_selectors


def approvals_badge(request: HttpRequest) -> dict[str, Any]:
    """The navigation badge: what waits on me (everything pending, for read-only roles)."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return approval_pages.badge_context(user=user)


def kill_switch(request: HttpRequest) -> dict[str, Any]:
    """The global switch: a banner on every page while everything is paused, and the control
    for admins."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {
        "global_switch": killswitch_selectors.state(),
        "can_kill_switch": Role.ADMIN in roles_of(user),
    }
