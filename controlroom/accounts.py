"""Users, roles and API tokens."""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction
from django.utils import timezone

from controlroom.models import ApiToken
from controlroom.roles import Role

TOKEN_PREFIX = "cr_"


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def user_ensure(*, username: str, role: Role, password: str | None = None) -> Any:
    """Create ``username`` if missing and give it exactly ``role``."""
    user_model = get_user_model()
    with transaction.atomic():
        user, created = user_model.objects.get_or_create(username=username)
        if password is not None:
            user.set_password(password)
            user.save(update_fields=["password"])
        elif created:
            user.set_unusable_password()
            user.save(update_fields=["password"])
        groups = [Group.objects.get_or_create(name=r.value)[0] for r in Role]
        user.groups.remove(*groups)
        user.groups.add(Group.objects.get(name=role.value))
        if role == Role.ADMIN and not user.is_staff:
            user.is_staff = True
            user.save(update_fields=["is_staff"])
    return user


def token_issue(*, user: Any, name: str = "cli") -> str:
    """Create a bearer token for ``user``; the plain token is returned once and not stored."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    ApiToken.objects.create(user=user, name=name, prefix=token[:10], digest=_digest(token))
    return token


def token_authenticate(token: str) -> Any | None:
    """The active user a bearer token belongs to, or None."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        return None
    row = (
        ApiToken.objects.select_related("user")
        .filter(digest=_digest(token), revoked_at__isnull=True)
        .first()
    )
    if row is None or not row.user.is_active:
        return None
    now = timezone.now()
    if row.last_used_at is None or (now - row.last_used_at).total_seconds() > 60:
        ApiToken.objects.filter(id=row.id).update(last_used_at=now)
    return row.user
