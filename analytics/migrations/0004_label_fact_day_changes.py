"""Per day, a counter of the label facts' changes (LabelFactDay), kept by statement-level
triggers on analytics_labelfact with transition tables: whatever writes the facts (the
transaction trigger of 0002, rollups_rebuild), each day it touches counts the rows changed, in
the same transaction. The label health page caches its agreement figures under the sum of its
days' counters."""

from django.db import migrations, models

FORWARD = """
CREATE FUNCTION analytics_label_fact_day_count() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        INSERT INTO analytics_labelfactday (day, changes)
        SELECT day, count(*) FROM old_facts GROUP BY day ORDER BY day
        ON CONFLICT (day) DO UPDATE SET changes = analytics_labelfactday.changes + EXCLUDED.changes;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        INSERT INTO analytics_labelfactday (day, changes)
        SELECT day, count(*) FROM new_facts GROUP BY day ORDER BY day
        ON CONFLICT (day) DO UPDATE SET changes = analytics_labelfactday.changes + EXCLUDED.changes;
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER analytics_label_fact_day_insert AFTER INSERT ON analytics_labelfact
    REFERENCING NEW TABLE AS new_facts
    FOR EACH STATEMENT EXECUTE FUNCTION analytics_label_fact_day_count();
CREATE TRIGGER analytics_label_fact_day_update AFTER UPDATE ON analytics_labelfact
    REFERENCING OLD TABLE AS old_facts NEW TABLE AS new_facts
    FOR EACH STATEMENT EXECUTE FUNCTION analytics_label_fact_day_count();
CREATE TRIGGER analytics_label_fact_day_delete AFTER DELETE ON analytics_labelfact
    REFERENCING OLD TABLE AS old_facts
    FOR EACH STATEMENT EXECUTE FUNCTION analytics_label_fact_day_count();
INSERT INTO analytics_labelfactday (day, changes)
SELECT day, count(*) FROM analytics_labelfact GROUP BY day;
"""

REVERSE = """
DROP TRIGGER IF EXISTS analytics_label_fact_day_delete ON analytics_labelfact;
DROP TRIGGER IF EXISTS analytics_label_fact_day_update ON analytics_labelfact;
DROP TRIGGER IF EXISTS analytics_label_fact_day_insert ON analytics_labelfact;
DROP FUNCTION IF EXISTS analytics_label_fact_day_count();
"""


class Migration(migrations.Migration):
    dependencies = [("analytics", "0003_label_day_rollup")]

    operations = [
        migrations.CreateModel(
            name="LabelFactDay",
            fields=[
                ("day", models.DateField(primary_key=True, serialize=False)),
                ("changes", models.BigIntegerField(default=0)),
            ],
        ),
        migrations.RunSQL(sql=FORWARD, reverse_sql=REVERSE),
    ]
