"""Label versions per decided day, analyst, label and hold reason (the label health page's
figures), kept by triggers on cases_labelversion, and filled from the versions there are.

An insert adds the version (and a flip when its label differs from the version it
supersedes), a delete takes it away, an update that changes the day, analyst, label, hold
reason or superseded version takes it from its old row and adds it to its new one. The day
is decided_at's in TIME_ZONE, like the label facts'.
"""

from django.conf import settings
from django.db import migrations, models

FORWARD = """
CREATE FUNCTION analytics_label_flip(version_label text, superseded_id bigint) RETURNS int
LANGUAGE sql STABLE AS $$
    SELECT coalesce((SELECT (s.label <> version_label)::int FROM cases_labelversion s
                     WHERE s.id = superseded_id), 0)
$$;
CREATE FUNCTION analytics_label_day_sync() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        UPDATE analytics_labeldayrollup
        SET versions = versions - 1, flips = flips - analytics_label_flip(OLD.label, OLD.supersedes_id)
        WHERE day = (OLD.decided_at AT TIME ZONE '%(zone)s')::date
          AND analyst_id IS NOT DISTINCT FROM OLD.analyst_id
          AND label = OLD.label AND hold_reason = OLD.hold_reason;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        INSERT INTO analytics_labeldayrollup (day, analyst_id, label, hold_reason, versions, flips)
        VALUES ((NEW.decided_at AT TIME ZONE '%(zone)s')::date, NEW.analyst_id, NEW.label,
                NEW.hold_reason, 1, analytics_label_flip(NEW.label, NEW.supersedes_id))
        ON CONFLICT ON CONSTRAINT label_day_rollup_once DO UPDATE SET
            versions = analytics_labeldayrollup.versions + 1,
            flips = analytics_labeldayrollup.flips + EXCLUDED.flips;
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER analytics_label_day_insert_delete AFTER INSERT OR DELETE ON cases_labelversion
    FOR EACH ROW EXECUTE FUNCTION analytics_label_day_sync();
CREATE TRIGGER analytics_label_day_update
    AFTER UPDATE OF decided_at, analyst_id, label, hold_reason, supersedes_id ON cases_labelversion
    FOR EACH ROW WHEN (
        OLD.decided_at IS DISTINCT FROM NEW.decided_at OR OLD.analyst_id IS DISTINCT FROM NEW.analyst_id
        OR OLD.label IS DISTINCT FROM NEW.label OR OLD.hold_reason IS DISTINCT FROM NEW.hold_reason
        OR OLD.supersedes_id IS DISTINCT FROM NEW.supersedes_id
    ) EXECUTE FUNCTION analytics_label_day_sync();
"""

BACKFILL = """
INSERT INTO analytics_labeldayrollup (day, analyst_id, label, hold_reason, versions, flips)
SELECT (v.decided_at AT TIME ZONE '%(zone)s')::date, v.analyst_id, v.label, v.hold_reason,
       count(*), count(*) FILTER (WHERE s.label <> v.label)
FROM cases_labelversion v LEFT JOIN cases_labelversion s ON s.id = v.supersedes_id
GROUP BY 1, 2, 3, 4
"""

REVERSE = """
DROP TRIGGER IF EXISTS analytics_label_day_update ON cases_labelversion;
DROP TRIGGER IF EXISTS analytics_label_day_insert_delete ON cases_labelversion;
DROP FUNCTION IF EXISTS analytics_label_day_sync();
DROP FUNCTION IF EXISTS analytics_label_flip(text, bigint);
"""

# The label health page's retractions per day: the few retract rows among every export row.
RETRACT_INDEX = """
CREATE INDEX analytics_label_retract_idx ON cases_labeloutbox (created_at)
    WHERE action = 'retract'
"""


class Migration(migrations.Migration):
    dependencies = [
        ("analytics", "0002_label_fact_trigger"),
    ]

    operations = [
        migrations.CreateModel(
            name="LabelDayRollup",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("day", models.DateField()),
                ("analyst_id", models.BigIntegerField(null=True)),
                ("label", models.CharField(max_length=16)),
                ("hold_reason", models.CharField(blank=True, max_length=32)),
                ("versions", models.BigIntegerField(default=0)),
                ("flips", models.BigIntegerField(default=0)),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(
                        fields=("day", "analyst_id", "label", "hold_reason"),
                        name="label_day_rollup_once",
                        nulls_distinct=False,
                    )
                ],
            },
        ),
        migrations.RunSQL(sql=FORWARD % {"zone": settings.TIME_ZONE}, reverse_sql=REVERSE),
        migrations.RunSQL(sql=BACKFILL % {"zone": settings.TIME_ZONE}, reverse_sql=""),
        migrations.RunSQL(
            sql=RETRACT_INDEX, reverse_sql="DROP INDEX IF EXISTS analytics_label_retract_idx"
        ),
    ]
