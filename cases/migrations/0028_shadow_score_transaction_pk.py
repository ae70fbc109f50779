"""Shadow scores linked to their transaction's integer key (cases_transaction.id).

Reads joined every score to cases_transaction on the text id, which meant mapping a million
transactions per shadow comparison. The link is filled at shadow ingest and by a beat task
for scores that came before their transaction; existing rows are linked here. A score of the
transaction's own model version stays unlinked (reads leave it out, cases.shadow.selectors).
"""

from django.db import migrations, models

LINK_EXISTING = """
UPDATE cases_shadowscore s SET transaction_pk = t.id
FROM cases_transaction t
WHERE t.transaction_id = s.transaction_id AND t.model_version <> s.model_version
  AND s.transaction_pk IS NULL
"""


class Migration(migrations.Migration):
    dependencies = [
        ("cases", "0027_shadow_scores"),
    ]

    operations = [
        migrations.AddField(
            model_name="shadowscore",
            name="transaction_pk",
            field=models.BigIntegerField(blank=True, null=True),
        ),
        # Before the indexes: one pass over the rows instead of index upkeep per row.
        migrations.RunSQL(sql=LINK_EXISTING, reverse_sql=migrations.RunSQL.noop),
        migrations.AddIndex(
            model_name="shadowscore",
            index=models.Index(
                fields=["transaction_pk", "model_version"], name="shadow_score_pk_idx"
            ),
        ),
        migrations.AddIndex(
            model_name="shadowscore",
            index=models.Index(
                condition=models.Q(("transaction_pk__isnull", True)),
                fields=["model_version"],
                name="shadow_score_unlinked_idx",
            ),
        ),
    ]
