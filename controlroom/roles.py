"""Roles and what each may do. A role is a Django group of the same name."""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class Role(StrEnum):
    ADMIN = "admin"
    DESIGNER = "designer"
    APPROVER = "approver"
    VIEWER = "viewer"


class Capability(StrEnum):
    VIEW = "view"
    DESIGN = "design"  # flows, agents, policies
    OPERATE = "operate"  # start, cancel, retry runs
    DECIDE = "decide"  # approval decisions


GRANTS: dict[Role, frozenset[Capability]] = {
    Role.ADMIN: frozenset(Capability),
    Role.DESIGNER: frozenset({Capability.VIEW, Capability.DESIGN, Capability.OPERATE}),
    Role.APPROVER: frozenset({Capability.VIEW, Capability.DECIDE}),
    Role.VIEWER: frozenset({Capability.VIEW}),
}


def roles_of(user: Any) -> set[Role]:
    if user is None or not user.is_authenticated or not user.is_active:
        return set()
    if user.is_superuser:
        return {Role.ADMIN}
    cached = getattr(user, "_controlroom_roles", None)
    if cached is None:
        names = set(user.groups.values_list("name", flat=True))
        cached = {role for role in Role if role.value in names}
        user._controlroom_roles = cached
    return set(cached)


def can(user: Any, capability: Capability) -> bool:
    return any(capability in GRANTS[role] for role in roles_of(user))


def primary_role(user: Any) -> Role | None:
    roles = roles_of(user)
    for role in Role:  # strongest first
        if role in roles:
            return role
    return None
