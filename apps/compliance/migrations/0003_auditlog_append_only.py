"""The audit log (django-auditlog's ``auditlog_logentry``) is append-only in PostgreSQL: a
trigger refuses UPDATE and DELETE, whoever sends them. Users are therefore deactivated, never
deleted (deleting one would have to null the actor of their log entries)."""

from django.db import migrations

FUNCTION = """
CREATE OR REPLACE FUNCTION compliance_refuse_audit_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'the audit log is append-only: % on % refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
"""
TRIGGER = """
CREATE TRIGGER auditlog_append_only
BEFORE UPDATE OR DELETE ON auditlog_logentry
FOR EACH ROW EXECUTE FUNCTION compliance_refuse_audit_change();
"""


class Migration(migrations.Migration):
    dependencies = [
        ("compliance", "0002_review_security_reconciliation"),
        ("auditlog", "__latest__"),
    ]

    operations = [
        migrations.RunSQL(
            FUNCTION + TRIGGER,
            reverse_sql="DROP TRIGGER IF EXISTS auditlog_append_only ON auditlog_logentry;"
            "DROP FUNCTION IF EXISTS compliance_refuse_audit_change();",
        )
    ]
