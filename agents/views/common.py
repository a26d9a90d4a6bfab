"""Helpers the agents pages share: role checks, the section context, form problems."""

from __future__ import annotations

import json
from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest

from agents.agents import Problem
from controlroom.roles import Capability, Role, can, roles_of


def require(request: HttpRequest, capability: Capability) -> None:
    if not can(request.user, capability):
        raise PermissionDenied(f"your role may not {capability.value}")


def require_admin(request: HttpRequest) -> None:
    if Role.ADMIN not in roles_of(request.user):
        raise PermissionDenied("only admins may do this")


def is_admin(request: HttpRequest) -> bool:
    return Role.ADMIN in roles_of(request.user)


def is_fragment_request(request: HttpRequest) -> bool:
    """An htmx swap (not a history restore, which needs the whole page)."""
    htmx = getattr(request, "htmx", None)
    return htmx is not None and bool(htmx) and not htmx.history_restore_request


def section(name: str, **extra: Any) -> dict[str, Any]:
    return {"nav": "agents", "section": name, **extra}


def add_problems(form: Any, problems: list[Problem]) -> None:
    for problem in problems:
        form.add_error(problem.field if problem.field in form.fields else None, problem.message)


def pretty(value: Any) -> str:
    if value in (None, {}, []):
        return ""
    return json.dumps(value, indent=2, ensure_ascii=False)
