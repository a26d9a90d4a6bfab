"""Users, roles, sessions and API tokens.

A user's access changes in three ways: a new role (``user_role_set``), an admin's edit in the
Django admin (``user_access_sync``) and a logout (``session_logout``). Each one publishes
``bus.access_changed`` after its transaction commits, and every open websocket of that user then
checks its session again (``session_user``): a socket whose session ended or whose user was
deactivated closes, one whose role no longer allows a subscription drops it.
"""

from __future__ import annotations

import hashlib
import secrets
from importlib import import_module
from typing import Any

from django.conf import settings
from django.contrib.auth import (
    BACKEND_SESSION_KEY,
    HASH_SESSION_KEY,
    SESSION_KEY,
    get_user_model,
    load_backend,
    logout,
)
from django.contrib.auth.models import Group
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.crypto import constant_time_compare

from controlroom import bus
from controlroom.models import ApiToken
from controlroom.roles import Role, roles_of

TOKEN_PREFIX = "cr_"
TOKEN_NAME_MAX = 100


class TokenNotFound(Exception):
    """No token the caller may see has this prefix."""


class TokenAmbiguous(Exception):
    """More than one token the caller may see has this prefix."""


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


# --- users and roles --------------------------------------------------------------------------


def user_ensure(*, username: str, role: Role, password: str | None = None) -> Any:
    """Create ``username`` if missing and give it exactly ``role`` (``user_role_set``)."""
    user_model = get_user_model()
    with transaction.atomic():
        user, created = user_model.objects.get_or_create(username=username)
        if password is not None:
            user.set_password(password)
            user.save(update_fields=["password"])
        elif created:
            user.set_unusable_password()
            user.save(update_fields=["password"])
        user_role_set(user=user, role=role)
    return user


def user_role_set(*, user: Any, role: Role | None) -> None:
    """Give ``user`` exactly ``role`` (None: no role, so no access at all).

    The one function that changes roles: Django's staff and superuser flags follow the role, so
    a demoted admin loses the admin site too (``is_staff`` is True for admins only, and
    ``is_superuser``, which ``roles_of`` reads as admin, is cleared for any other role). Open
    websockets of the user re-check their subscriptions once this commits."""
    with transaction.atomic():
        groups = [Group.objects.get_or_create(name=r.value)[0] for r in Role]
        user.groups.remove(*groups)
        if role is not None:
            user.groups.add(next(group for group in groups if group.name == role.value))
        user.is_staff = role == Role.ADMIN
        if role != Role.ADMIN:
            user.is_superuser = False
        user.save(update_fields=["is_staff", "is_superuser"])
        user._controlroom_roles = {role} if role is not None else set()
        bus.publish(bus.access_changed(user_id=user.pk))


def user_access_sync(*, user: Any) -> None:
    """Bring ``user``'s staff flag in line with the roles it now has, after an edit elsewhere
    (the Django admin's user form: groups, ``is_active``, ``is_superuser``), and tell its open
    websockets to check their session again once this commits."""
    with transaction.atomic():
        user = get_user_model().objects.get(pk=user.pk)
        staff = user.is_superuser or user.groups.filter(name=Role.ADMIN.value).exists()
        if user.is_staff != staff:
            user.is_staff = staff
            user.save(update_fields=["is_staff"])
        bus.publish(bus.access_changed(user_id=user.pk))


def user_access_revoked(*, user_id: int) -> None:
    """Tell the open websockets of ``user_id`` (deleted, or whose sessions were deleted) to
    check their session again once the current transaction commits."""
    bus.publish(bus.access_changed(user_id=user_id))


# --- sessions ---------------------------------------------------------------------------------


def session_logout(*, request: HttpRequest) -> None:
    """Log the request's user out (its session is deleted) and close that session's open
    websockets: the event is published after the session is gone, so each socket's re-check
    finds it gone. The user's other sessions and their sockets stay open."""
    user_id = request.user.pk if request.user.is_authenticated else None
    logout(request)
    if user_id is not None:
        user_access_revoked(user_id=user_id)


def session_user(*, session_key: str | None, user_id: Any) -> Any | None:
    """The user of session ``session_key`` if it is still ``user_id``'s live session, else None.

    Checked as Django checks a request: the session still exists (not logged out, flushed or
    expired), it names ``user_id`` and a configured backend, that backend still returns the
    user (an inactive user is not returned), and the session's password hash still matches (a
    password change ends the other sessions). Reads the database: call from a thread."""
    if not session_key:
        return None
    store = import_module(settings.SESSION_ENGINE).SessionStore(session_key)
    data = store.load()
    if str(data.get(SESSION_KEY)) != str(user_id):
        return None
    backend_path = data.get(BACKEND_SESSION_KEY)
    if backend_path not in settings.AUTHENTICATION_BACKENDS:
        return None
    user = load_backend(backend_path).get_user(user_id)
    if user is None or not user.is_active:
        return None
    session_hash = data.get(HASH_SESSION_KEY) or ""
    hashes = [user.get_session_auth_hash()]
    fallback = getattr(user, "get_session_auth_fallback_hash", None)
    if fallback is not None:
        hashes.extend(fallback())
    if not any(constant_time_compare(session_hash, known) for known in hashes):
        return None
    return user


def user_current(*, user_id: Any) -> Any | None:
    """``user_id`` read again, if it still exists and is active (roles not cached)."""
    return get_user_model().objects.filter(pk=user_id, is_active=True).first()


# --- API tokens -------------------------------------------------------------------------------


def token_issue(*, user: Any, name: str = "cli") -> str:
    """Create a bearer token for ``user``; the plain token is returned once and not stored."""
    return token_create(user=user, name=name)[0]


def token_create(*, user: Any, name: str = "cli") -> tuple[str, ApiToken]:
    """``token_issue``, with the new token's row."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken.objects.create(
        user=user, name=name[:TOKEN_NAME_MAX], prefix=token[:10], digest=_digest(token)
    )
    return token, row


def token_authenticate(token: str) -> Any | None:
    """The active user a bearer token belongs to, or None.

    Reads the token's row on every call (nothing is cached), so a revoked token or a
    deactivated user stops authenticating in every process at once."""
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


def token_list(*, viewer: Any, owner: Any | None = None) -> QuerySet[ApiToken]:
    """The live (unrevoked) tokens ``viewer`` may see, newest first: their own; an admin sees
    everyone's, or ``owner``'s when given."""
    rows = ApiToken.objects.select_related("user").filter(revoked_at__isnull=True)
    if Role.ADMIN in roles_of(viewer):
        if owner is not None:
            rows = rows.filter(user=owner)
    else:
        rows = rows.filter(user=viewer)
    return rows.order_by("-created_at", "-id")


def token_live(*, prefix: str, owner: Any | None = None) -> list[ApiToken]:
    """Every live token with ``prefix`` (of ``owner`` when given), for an operator's command."""
    rows = ApiToken.objects.select_related("user").filter(prefix=prefix, revoked_at__isnull=True)
    if owner is not None:
        rows = rows.filter(user=owner)
    return list(rows[:10])


def token_get(*, viewer: Any, prefix: str) -> ApiToken:
    """The live token with ``prefix`` that ``viewer`` may see (``token_list``).

    Raises ``TokenNotFound`` (none, or not theirs) or ``TokenAmbiguous`` (several share it)."""
    rows = list(token_list(viewer=viewer).filter(prefix=prefix)[:2])
    if not rows:
        raise TokenNotFound(f"no live token with prefix {prefix!r}")
    if len(rows) > 1:
        raise TokenAmbiguous(f"more than one token has prefix {prefix!r}")
    return rows[0]


def token_revoke(*, token: ApiToken) -> bool:
    """Revoke ``token``: from the commit on, it authenticates nowhere (``token_authenticate``
    reads the row on every request). Idempotent: False when it was already revoked."""
    return bool(
        ApiToken.objects.filter(id=token.id, revoked_at__isnull=True).update(
            revoked_at=timezone.now()
        )
    )


def token_revoke_all(*, user: Any) -> int:
    """Revoke every live token of ``user``; how many were live."""
    return ApiToken.objects.filter(user=user, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )
