"""The database itself refuses to change or remove audit events (hand-written).

Row triggers refuse UPDATE and DELETE; a statement trigger refuses TRUNCATE. Corrections are
new events, never edits. A superuser can still bypass triggers (DISABLE TRIGGER,
session_replication_role); the hash chain and `manage.py verify_audit` catch that.

TRUNCATE of an empty table is let through: it destroys nothing, and `manage.py flush` (and the
test runner's flush after transactional tests) truncates every table in one statement.
Deleting a user who appears in the trail is refused too: SET_NULL on actor would rewrite it.
"""

from django.db import migrations

FORWARD = r"""
CREATE FUNCTION cases_auditevent_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    has_rows boolean;
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        EXECUTE format('SELECT EXISTS (SELECT 1 FROM %I.%I)', TG_TABLE_SCHEMA, TG_TABLE_NAME)
            INTO has_rows;
        IF NOT has_rows THEN
            RETURN NULL;
        END IF;
    END IF;
    RAISE EXCEPTION 'audit events are append-only: % on % is not allowed', TG_OP, TG_TABLE_NAME
        USING HINT = 'Record a new event instead; the trail only grows.';
END;
$$;

CREATE TRIGGER cases_auditevent_no_update_delete
    BEFORE UPDATE OR DELETE ON cases_auditevent
    FOR EACH ROW EXECUTE FUNCTION cases_auditevent_append_only();

CREATE TRIGGER cases_auditevent_no_truncate
    BEFORE TRUNCATE ON cases_auditevent
    FOR EACH STATEMENT EXECUTE FUNCTION cases_auditevent_append_only();
"""

REVERSE = r"""
DROP TRIGGER IF EXISTS cases_auditevent_no_truncate ON cases_auditevent;
DROP TRIGGER IF EXISTS cases_auditevent_no_update_delete ON cases_auditevent;
DROP FUNCTION IF EXISTS cases_auditevent_append_only();
"""


class Migration(migrations.Migration):
    dependencies = [("cases", "0002_workflow_and_audit")]

    operations = [migrations.RunSQL(sql=FORWARD, reverse_sql=REVERSE)]
