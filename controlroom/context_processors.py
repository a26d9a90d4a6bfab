"""Template context every page needs: the user's role and what they may do."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from controlroom.roles import Capability, can, primary_role


def navigation(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {
        "role": primary_role(user),
        "can_design": can(user, Capability.DESIGN),
        "can_operate": can(user, Capability.OPERATE),
        "can_decide": can(user, Capability.DECIDE),
    }
