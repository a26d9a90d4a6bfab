from django.db import migrations, models


class Migration(migrations.Migration):
    """Finished runs by time: the event-trigger catch-up and the "last 24 h" counters."""

    dependencies = [
        ("flows", "0007_observability"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="run",
            index=models.Index(fields=["finished_at"], name="run_finished_at_idx"),
        ),
    ]
