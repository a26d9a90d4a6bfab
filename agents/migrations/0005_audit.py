import django.utils.timezone
from django.db import migrations, models

# Append-only, enforced by the database (agents.audit explains the sealing design):
# - DELETE is refused;
# - an INSERT must arrive unsealed (no seq, no hashes): only the sealer chains rows;
# - an UPDATE may only seal an unsealed row (seq null -> set, hashes set) and change nothing
#   else. TRUNCATE is a table owner's privilege and is left to PostgreSQL's grants (the test
#   suite's flush uses it); audit_verify detects what a superuser changes behind the trigger.
APPEND_ONLY_SQL = """
CREATE FUNCTION agents_auditevent_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'audit events are append-only: DELETE of id % refused', OLD.id
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    IF TG_OP = 'INSERT' THEN
        IF NEW.seq IS NOT NULL OR NEW.prev_hash <> '' OR NEW.hash <> '' THEN
            RAISE EXCEPTION 'audit events are inserted unsealed; only the sealer chains them'
                USING ERRCODE = 'integrity_constraint_violation';
        END IF;
        RETURN NEW;
    END IF;
    IF OLD.seq IS NULL AND OLD.hash = '' AND NEW.seq IS NOT NULL AND length(NEW.hash) = 64
       AND (NEW.id, NEW.created_at, NEW.kind, NEW.action, NEW.actor_id, NEW.actor, NEW.subject,
            NEW.flow_slug, NEW.run_id, NEW.step_id, NEW.reason, NEW.data)
           IS NOT DISTINCT FROM
           (OLD.id, OLD.created_at, OLD.kind, OLD.action, OLD.actor_id, OLD.actor, OLD.subject,
            OLD.flow_slug, OLD.run_id, OLD.step_id, OLD.reason, OLD.data)
    THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'audit events are append-only: UPDATE of id % refused', OLD.id
        USING ERRCODE = 'integrity_constraint_violation';
END
$$;
CREATE TRIGGER agents_auditevent_append_only
    BEFORE INSERT OR UPDATE OR DELETE ON agents_auditevent
    FOR EACH ROW EXECUTE FUNCTION agents_auditevent_append_only();
"""

DROP_SQL = """
DROP TRIGGER IF EXISTS agents_auditevent_append_only ON agents_auditevent;
DROP FUNCTION IF EXISTS agents_auditevent_append_only();
"""


class Migration(migrations.Migration):
    dependencies = [
        ("agents", "0004_policies"),
    ]

    operations = [
        migrations.CreateModel(
            name="AuditVerification",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "verified_at",
                    models.DateTimeField(db_index=True, default=django.utils.timezone.now),
                ),
                ("ok", models.BooleanField()),
                ("checked", models.BigIntegerField(default=0)),
                ("up_to_seq", models.BigIntegerField(default=0)),
                ("broken_seq", models.BigIntegerField(blank=True, null=True)),
                ("message", models.TextField(blank=True)),
            ],
            options={"ordering": ["-verified_at", "-id"]},
        ),
        migrations.CreateModel(
            name="AuditEvent",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("seq", models.BigIntegerField(blank=True, null=True, unique=True)),
                (
                    "created_at",
                    models.DateTimeField(db_index=True, default=django.utils.timezone.now),
                ),
                (
                    "kind",
                    models.CharField(
                        choices=[
                            ("verdict", "Verdict"),
                            ("transition", "Transition"),
                            ("decision", "Decision"),
                            ("config", "Config"),
                        ],
                        max_length=20,
                    ),
                ),
                ("action", models.CharField(max_length=80)),
                ("actor_id", models.IntegerField(blank=True, null=True)),
                ("actor", models.CharField(blank=True, max_length=150)),
                ("subject", models.CharField(blank=True, max_length=300)),
                ("flow_slug", models.CharField(blank=True, max_length=80)),
                ("run_id", models.UUIDField(blank=True, null=True)),
                ("step_id", models.BigIntegerField(blank=True, null=True)),
                ("reason", models.TextField(blank=True)),
                ("data", models.JSONField(blank=True, default=dict)),
                ("prev_hash", models.CharField(blank=True, max_length=64)),
                ("hash", models.CharField(blank=True, max_length=64)),
            ],
            options={
                "ordering": ["-created_at", "-id"],
                "indexes": [
                    models.Index(fields=["kind", "-created_at"], name="audit_kind_created"),
                    models.Index(fields=["flow_slug", "-created_at"], name="audit_flow_created"),
                    models.Index(fields=["run_id", "-created_at"], name="audit_run_created"),
                    models.Index(fields=["actor", "-created_at"], name="audit_actor_created"),
                    models.Index(
                        condition=models.Q(("seq__isnull", True)),
                        fields=["id"],
                        name="audit_unsealed",
                    ),
                ],
            },
        ),
        migrations.RunSQL(APPEND_ONLY_SQL, DROP_SQL),
    ]
