"""The Django admin's user pages, through ``controlroom.accounts``: after an admin edits a
user (groups, active, superuser) or deletes one, the staff flag follows the role and the user's
open websockets check their session again (a deactivated user's close)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.db.models import QuerySet
from django.forms import ModelForm
from django.http import HttpRequest

from controlroom.accounts import user_access_revoked, user_access_sync

User = get_user_model()


class ControlRoomUserAdmin(UserAdmin):  # type: ignore[type-arg]
    def save_related(
        self, request: HttpRequest, form: ModelForm[Any], formsets: Any, change: bool
    ) -> None:
        super().save_related(request, form, formsets, change)
        user_access_sync(user=form.instance)

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        user_id = obj.pk
        super().delete_model(request, obj)
        user_access_revoked(user_id=user_id)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        user_ids = list(queryset.values_list("pk", flat=True))
        super().delete_queryset(request, queryset)
        for user_id in user_ids:
            user_access_revoked(user_id=user_id)


if admin.site.is_registered(User):
    admin.site.unregister(User)
admin.site.register(User, ControlRoomUserAdmin)
