from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("controlroom", "0001_initial"),
    ]

    operations = [
        migrations.CreateModel(
            name="StartupStamp",
            fields=[
                ("name", models.CharField(max_length=50, primary_key=True, serialize=False)),
                ("digest", models.CharField(max_length=64)),
                ("updated_at", models.DateTimeField(auto_now=True)),
            ],
        ),
    ]
