"""Nearest-neighbour lookups: HNSW indexes (cosine), case centroids, the neighbour verdict.

Not atomic: the indexes on transactions are built with CREATE INDEX CONCURRENTLY, so an
install with millions of rows keeps taking reads and writes while they build. m and
ef_construction come from settings (FRAUDCASE_HNSW_*); changing them later takes
`manage.py rebuild_similarity_index`, which also repairs an index a failed build left invalid.
"""

import django.db.models.deletion
import pgvector.django.vector
from django.conf import settings
from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models

from cases.models.case import LABELLED, hnsw_cosine_index


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("cases", "0004_audit_actor_outlives_users"),
    ]

    operations = [
        migrations.AddField(
            model_name="case",
            name="neighbour_fraud_score",
            field=models.FloatField(
                blank=True,
                help_text="0-1: fraud among the nearest labelled, by similarity",
                null=True,
            ),
        ),
        migrations.AddField(
            model_name="case",
            name="neighbour_summary",
            field=models.JSONField(blank=True, null=True),
        ),
        migrations.CreateModel(
            name="CaseCentroid",
            fields=[
                (
                    "case",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        primary_key=True,
                        related_name="centroid",
                        serialize=False,
                        to="cases.case",
                    ),
                ),
                (
                    "embedding",
                    pgvector.django.vector.VectorField(dimensions=settings.FRAUDCASE_EMBEDDING_DIM),
                ),
                ("embedded_transactions", models.PositiveIntegerField()),
                ("updated_at", models.DateTimeField(auto_now=True)),
            ],
            # A new, empty table: its index needs no concurrent build.
            options={"indexes": [hnsw_cosine_index("case_centroid_hnsw")]},
        ),
        # An HNSW graph that outgrows maintenance_work_mem is built on disk, many times slower.
        migrations.RunSQL(
            sql=[
                (
                    "SELECT set_config('maintenance_work_mem', %s, false)",
                    [settings.FRAUDCASE_HNSW_BUILD_MEMORY],
                )
            ],
            reverse_sql=migrations.RunSQL.noop,
        ),
        AddIndexConcurrently(
            model_name="transaction",
            index=hnsw_cosine_index("transaction_embedding_hnsw"),
        ),
        AddIndexConcurrently(
            model_name="transaction",
            index=hnsw_cosine_index("transaction_labelled_hnsw", condition=LABELLED),
        ),
        AddIndexConcurrently(
            model_name="transaction",
            index=models.Index(
                condition=LABELLED, fields=["occurred_at"], name="transaction_labelled_time_idx"
            ),
        ),
    ]
