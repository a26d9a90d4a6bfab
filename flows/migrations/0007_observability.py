from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("flows", "0006_roi_rollups"),
    ]

    operations: list[migrations.operations.base.Operation] = []
