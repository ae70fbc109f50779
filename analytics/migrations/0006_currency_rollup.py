"""The money dashboard's amounts per (ingest run, day, currency), raw, converted at read time
(CurrencyRollup), filled from the transactions as rollups_rebuild does; the batch rollup's
amount, a sum over mixed currencies, goes."""

from django.conf import settings
from django.db import migrations, models

FILL = """
INSERT INTO analytics_currencyrollup (run_id, day, currency, transactions, amount)
SELECT coalesce(t.ingest_run_id, 0), (t.occurred_at AT TIME ZONE %s)::date, t.currency,
       count(*), sum(t.amount)
FROM cases_transaction t GROUP BY 1, 2, 3
"""


def fill(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(FILL, [settings.TIME_ZONE])


class Migration(migrations.Migration):
    dependencies = [
        ("analytics", "0005_append_only_label_counters"),
    ]

    operations = [
        migrations.RemoveField(
            model_name="batchrollup",
            name="amount",
        ),
        migrations.CreateModel(
            name="CurrencyRollup",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("run_id", models.BigIntegerField()),
                ("day", models.DateField()),
                ("currency", models.CharField(max_length=3)),
                ("transactions", models.BigIntegerField(default=0)),
                ("amount", models.DecimalField(decimal_places=2, default=0, max_digits=24)),
            ],
            options={
                "indexes": [models.Index(fields=["day"], name="currency_rollup_day_idx")],
                "constraints": [
                    models.UniqueConstraint(
                        fields=("run_id", "day", "currency"), name="currency_rollup_once"
                    )
                ],
            },
        ),
        migrations.RunPython(fill, migrations.RunPython.noop),
    ]
