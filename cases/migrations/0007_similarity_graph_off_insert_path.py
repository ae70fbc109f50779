"""Move the HNSW graph over all embeddings off the transactions table (see IndexedEmbedding).

Existing embeddings are copied into the new table before its index is built (one bulk build,
not row-by-row inserts); from then on a trigger queues every new embedding in the backlog a
worker drains into the graph.
"""

import django.db.models.deletion
import django.db.models.functions.datetime
import pgvector.django.indexes
import pgvector.django.vector
from django.conf import settings
from django.db import migrations, models

# One INSERT per statement (a whole COPY), from the statement's transition table; updates
# are rare (nothing in the app rewrites an embedding), so a row trigger on the column does.
QUEUE_EMBEDDINGS_SQL = """
CREATE FUNCTION cases_queue_new_embeddings() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO cases_embeddingbacklog (transaction_id)
    SELECT id FROM new_rows WHERE embedding IS NOT NULL
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END $$;
CREATE TRIGGER transaction_embeddings_queued AFTER INSERT ON cases_transaction
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION cases_queue_new_embeddings();

CREATE FUNCTION cases_queue_changed_embedding() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO cases_embeddingbacklog (transaction_id) VALUES (NEW.id)
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END $$;
CREATE TRIGGER transaction_embedding_changed AFTER UPDATE OF embedding ON cases_transaction
    FOR EACH ROW WHEN (NEW.embedding IS DISTINCT FROM OLD.embedding)
    EXECUTE FUNCTION cases_queue_changed_embedding();
"""
DROP_QUEUE_EMBEDDINGS_SQL = """
DROP TRIGGER transaction_embedding_changed ON cases_transaction;
DROP FUNCTION cases_queue_changed_embedding();
DROP TRIGGER transaction_embeddings_queued ON cases_transaction;
DROP FUNCTION cases_queue_new_embeddings();
"""


class Migration(migrations.Migration):
    dependencies = [
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
        ("cases", "0006_queue_indexes"),
    ]

    operations = [
        migrations.CreateModel(
            name="EmbeddingBacklog",
            fields=[
                (
                    "transaction",
                    models.OneToOneField(
                        db_constraint=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        primary_key=True,
                        related_name="+",
                        serialize=False,
                        to="cases.transaction",
                    ),
                ),
                (
                    "queued_at",
                    models.DateTimeField(db_default=django.db.models.functions.datetime.Now()),
                ),
            ],
        ),
        migrations.CreateModel(
            name="IndexedEmbedding",
            fields=[
                (
                    "transaction",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        primary_key=True,
                        related_name="+",
                        serialize=False,
                        to="cases.transaction",
                    ),
                ),
                ("embedding", pgvector.django.vector.VectorField(dimensions=384)),
            ],
        ),
        migrations.RunSQL(
            "INSERT INTO cases_indexedembedding (transaction_id, embedding) "
            "SELECT id, embedding FROM cases_transaction WHERE embedding IS NOT NULL",
            migrations.RunSQL.noop,
        ),
        migrations.RemoveIndex(
            model_name="transaction",
            name="transaction_embedding_hnsw",
        ),
        migrations.AddIndex(
            model_name="indexedembedding",
            index=pgvector.django.indexes.HnswIndex(
                ef_construction=128,
                fields=["embedding"],
                m=16,
                name="transaction_embedding_hnsw",
                opclasses=["vector_cosine_ops"],
            ),
        ),
        migrations.RunSQL(QUEUE_EMBEDDINGS_SQL, DROP_QUEUE_EMBEDDINGS_SQL),
        # Fewer indexes for every ingested row to update (see Transaction): the LIKE-pattern
        # twins of three columns go, the unique constraint and plain btrees stay as they were
        # (renamed to names Meta accepts), and who-decided / who-labelled lose their index and foreign-key check.
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.RunSQL(
                    """
                    DROP INDEX IF EXISTS cases_transaction_transaction_id_86ec7007_like;
                    DROP INDEX IF EXISTS cases_transaction_account_id_cf0b6c22_like;
                    DROP INDEX IF EXISTS cases_transaction_device_id_d6d1d2c5_like;
                    DROP INDEX IF EXISTS cases_transaction_decided_by_id_f60a6f6e;
                    DROP INDEX IF EXISTS cases_transaction_labelled_by_id_60b9ce39;
                    ALTER INDEX cases_transaction_account_id_cf0b6c22
                        RENAME TO transaction_account_idx;
                    ALTER INDEX cases_transaction_device_id_d6d1d2c5
                        RENAME TO transaction_device_idx;
                    ALTER TABLE cases_transaction
                        DROP CONSTRAINT IF EXISTS cases_transaction_decided_by_id_f60a6f6e_fk_auth_user_id,
                        DROP CONSTRAINT IF EXISTS cases_transaction_labelled_by_id_60b9ce39_fk_auth_user_id;
                    """,
                    migrations.RunSQL.noop,
                ),
            ],
            state_operations=[
                migrations.AlterField(
                    model_name="transaction",
                    name="transaction_id",
                    field=models.CharField(max_length=128),
                ),
                migrations.AlterField(
                    model_name="transaction",
                    name="account_id",
                    field=models.CharField(max_length=128),
                ),
                migrations.AlterField(
                    model_name="transaction",
                    name="device_id",
                    field=models.CharField(blank=True, max_length=128),
                ),
                migrations.AlterField(
                    model_name="transaction",
                    name="decided_by",
                    field=models.ForeignKey(
                        blank=True,
                        db_constraint=False,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                migrations.AlterField(
                    model_name="transaction",
                    name="labelled_by",
                    field=models.ForeignKey(
                        blank=True,
                        db_constraint=False,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                migrations.AddConstraint(
                    model_name="transaction",
                    constraint=models.UniqueConstraint(
                        fields=("transaction_id",), name="cases_transaction_transaction_id_key"
                    ),
                ),
                migrations.AddIndex(
                    model_name="transaction",
                    index=models.Index(fields=["account_id"], name="transaction_account_idx"),
                ),
                migrations.AddIndex(
                    model_name="transaction",
                    index=models.Index(fields=["device_id"], name="transaction_device_idx"),
                ),
            ],
        ),
    ]
