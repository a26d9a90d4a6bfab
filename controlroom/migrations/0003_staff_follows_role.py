"""Users who kept Django's staff flag after losing the admin role lose it now: from here on
``controlroom.accounts.user_role_set`` keeps the flag in line with the role."""

from typing import Any

from django.db import migrations


def staff_follows_role(apps: Any, schema_editor: Any) -> None:
    user_model = apps.get_model("auth", "User")
    demoted = user_model.objects.filter(is_staff=True, is_superuser=False).exclude(
        groups__name="admin"
    )
    user_model.objects.filter(pk__in=demoted.values("pk")).update(is_staff=False)


class Migration(migrations.Migration):
    dependencies = [
        ("controlroom", "0002_startupstamp"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = [migrations.RunPython(staff_follows_role, migrations.RunPython.noop)]
