"""Fewer indexes on cases_case, which ingest writes for every chunk: the LIKE-pattern twins of
account_id and status go, and status's own index (case_queue_idx starts with status)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("cases", "0010_label_versions_outbox_export")]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.RunSQL(
                    """
                    DROP INDEX IF EXISTS cases_case_account_id_18367a6b_like;
                    DROP INDEX IF EXISTS cases_case_status_95787cb3_like;
                    DROP INDEX IF EXISTS cases_case_status_95787cb3;
                    ALTER INDEX cases_case_account_id_18367a6b RENAME TO case_account_idx;
                    """,
                    """
                    ALTER INDEX case_account_idx RENAME TO cases_case_account_id_18367a6b;
                    CREATE INDEX cases_case_account_id_18367a6b_like
                        ON cases_case (account_id varchar_pattern_ops);
                    CREATE INDEX cases_case_status_95787cb3 ON cases_case (status);
                    CREATE INDEX cases_case_status_95787cb3_like
                        ON cases_case (status varchar_pattern_ops);
                    """,
                ),
            ],
            state_operations=[
                migrations.AlterField(
                    model_name="case",
                    name="account_id",
                    field=models.CharField(max_length=128),
                ),
                migrations.AlterField(
                    model_name="case",
                    name="status",
                    field=models.CharField(
                        choices=[
                            ("open", "Open"),
                            ("in_review", "In review"),
                            ("waiting_on_customer", "Waiting on customer"),
                            ("escalated", "Escalated"),
                            ("closed", "Closed"),
                            ("merged", "Merged"),
                        ],
                        default="open",
                        max_length=24,
                    ),
                ),
                migrations.AddIndex(
                    model_name="case",
                    index=models.Index(fields=["account_id"], name="case_account_idx"),
                ),
            ],
        ),
    ]
