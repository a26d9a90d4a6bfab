"""Who may decide an approval, and which approvals are someone's to decide.

An approval is for ``assignee_user`` when one is set (a person it was reassigned to), else for
everyone holding ``assignee_role``. Admins may decide any approval. Deciding needs the
``decide`` capability either way: a role without it (designer, viewer) only ever reads.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import Q, QuerySet

from controlroom.roles import GRANTS, Capability, Role, can, roles_of
from flows.models import Approval

#: Roles an approval may be assigned or reassigned to: the ones that can decide.
DECIDING_ROLES = [role.value for role in Role if Capability.DECIDE in GRANTS[role]]


def may_decide(user: Any, approval: Approval) -> bool:
    if not can(user, Capability.DECIDE):
        return False
    roles = roles_of(user)
    if Role.ADMIN in roles:
        return True
    if approval.assignee_user_id is not None:
        return bool(approval.assignee_user_id == user.pk)
    return approval.assignee_role in {role.value for role in roles}


def decidable_by(user: Any) -> Q | None:
    """A filter for the approvals ``user`` may decide (status aside); None: none at all."""
    if not can(user, Capability.DECIDE):
        return None
    roles = roles_of(user)
    if Role.ADMIN in roles:
        return Q()
    names = [role.value for role in roles]
    return Q(assignee_user=user) | Q(assignee_user__isnull=True, assignee_role__in=names)


def deciders() -> QuerySet[Any]:
    """Active people who can decide approvals: the choices for reassigning one."""
    users = get_user_model().objects.filter(is_active=True)
    return users.filter(Q(is_superuser=True) | Q(groups__name__in=DECIDING_ROLES)).distinct()


def recipients(approval: Approval) -> list[Any]:
    """The people an approval is waiting on (for reminders and escalations)."""
    users = get_user_model().objects.filter(is_active=True)
    if approval.assignee_user_id is not None:
        return list(users.filter(id=approval.assignee_user_id))
    holders = Q(groups__name=approval.assignee_role)
    if approval.assignee_role == Role.ADMIN:
        holders |= Q(is_superuser=True)
    return [user for user in users.filter(holders).distinct() if may_decide(user, approval)]
