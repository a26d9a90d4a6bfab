import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("agents", "0003_providers_routing"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="Policy",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("slug", models.SlugField(max_length=80, unique=True)),
                ("name", models.CharField(max_length=200)),
                (
                    "kind",
                    models.CharField(
                        choices=[
                            ("approval", "Approval"),
                            ("rate_limit", "rate limit"),
                            ("quiet_hours", "quiet hours"),
                            ("budget", "Budget"),
                            ("limits", "Limits"),
                            ("tool_scope", "tool scope"),
                            ("pii", "PII redaction"),
                            ("content", "Content"),
                        ],
                        max_length=20,
                    ),
                ),
                (
                    "scope",
                    models.CharField(
                        choices=[
                            ("global", "Global"),
                            ("flow", "Flow"),
                            ("agent", "Agent"),
                            ("tool", "Tool"),
                        ],
                        default="global",
                        max_length=10,
                    ),
                ),
                ("target", models.CharField(blank=True, max_length=200)),
                (
                    "verdict",
                    models.CharField(
                        choices=[
                            ("allow", "Allow"),
                            ("require_approval", "require approval"),
                            ("block", "Block"),
                            ("redact", "Redact"),
                        ],
                        default="block",
                        max_length=20,
                    ),
                ),
                ("reason", models.CharField(blank=True, max_length=500)),
                ("config", models.JSONField(blank=True, default=dict)),
                ("enabled", models.BooleanField(default=True)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("updated_at", models.DateTimeField(auto_now=True)),
                (
                    "created_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "verbose_name_plural": "policies",
                "ordering": ["slug"],
                "indexes": [
                    models.Index(
                        fields=["enabled", "scope", "target"], name="agents_poli_enabled_4bf59c_idx"
                    )
                ],
            },
        ),
    ]
