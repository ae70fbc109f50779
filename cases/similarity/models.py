"""What nearest-neighbour lookups keep beside the transactions: the HNSW graph over every
embedding (filled off the ingest path from a backlog) and each case's centroid."""

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.db import models
from django.db.models.functions import Now
from pgvector.django import VectorField

from cases.models.case import Case, Transaction, hnsw_cosine_index


class IndexedEmbedding(models.Model):
    """A transaction's embedding as the nearest-neighbour (HNSW) graph over all rows holds it.

    A table of its own, filled by a worker from EmbeddingBacklog: adding a row to an HNSW
    graph costs a few milliseconds, which on the transactions table itself held bulk ingest
    to a few hundred rows a second. Analysts' searches read this graph; a transaction becomes
    findable as a neighbour once the worker has caught up (the backlog says how far behind).
    """

    transaction = models.OneToOneField(
        Transaction, primary_key=True, on_delete=models.CASCADE, related_name="+"
    )
    embedding = VectorField(dimensions=settings.FRAUDCASE_EMBEDDING_DIM)

    class Meta:
        indexes = [hnsw_cosine_index("transaction_embedding_hnsw")]

    def __str__(self) -> str:
        return f"indexed embedding of transaction {self.transaction_id}"


class EmbeddingBacklog(models.Model):
    """Transactions whose embedding is not yet in IndexedEmbedding.

    Filled by a statement-level trigger on the transactions table (migration 0007), so every
    way rows arrive (binary COPY, the ORM, a restore) is covered, at one insert per COPY.
    """

    # No foreign-key check: the trigger copies ids of rows being inserted, and a check per
    # row would cost on the insert path for nothing.
    transaction = models.OneToOneField(
        Transaction, primary_key=True, on_delete=models.CASCADE, related_name="+",
        db_constraint=False,
    )  # fmt: skip
    queued_at = models.DateTimeField(db_default=Now())

    def __str__(self) -> str:
        return f"transaction {self.transaction_id} waiting for the similarity index"


class CaseCentroid(models.Model):
    """The mean of a case's transaction embeddings: what "similar cases" compares.

    A table of its own, not a column on Case: the queue columns of a case change at every
    ingest, and each such update would add an entry to a vector index on the same row.
    """

    case = models.OneToOneField(
        Case, primary_key=True, on_delete=models.CASCADE, related_name="centroid"
    )
    embedding = VectorField(dimensions=settings.FRAUDCASE_EMBEDDING_DIM)
    embedded_transactions = models.PositiveIntegerField()
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [hnsw_cosine_index("case_centroid_hnsw")]

    def __str__(self) -> str:
        return f"centroid of case {self.case_id}"


class NeighbourRefreshRequest(models.Model):
    """A labelled transaction: the open cases whose neighbour verdict its label may move (see
    VerdictNeighbours) wait for a refresh.

    Written with the label (cases.labels.services.versions), one row per transaction however
    often it is labelled before a worker gets to it: a worker drains them all at once and
    refreshes each such case once (coalesced). The hourly sweep remains the backstop.
    """

    transaction = models.OneToOneField(
        Transaction, primary_key=True, on_delete=models.CASCADE, related_name="+",
        db_constraint=False,
    )  # fmt: skip
    requested_at = models.DateTimeField(db_default=Now())

    def __str__(self) -> str:
        return f"neighbours of transaction {self.transaction_id} to refresh"


class VerdictNeighbours(models.Model):
    """The labelled transactions behind a case's stored neighbour verdict: which ones (a GIN
    index finds the cases a relabelled transaction is behind) and how similar the farthest
    of them is (a new label nearer than that enters the verdict).

    A table of its own, not columns on Case or CaseCentroid: those rows change often, and
    each change would add entries to the GIN or the HNSW index. Written with the verdict
    (cases.similarity.services); a case with a centroid but no row here (not refreshed since
    this table came) counts as one any new label may change.
    """

    case = models.OneToOneField(Case, primary_key=True, on_delete=models.CASCADE, related_name="+")
    transaction_ids = ArrayField(models.BigIntegerField(), default=list)
    # The similarity of the k-th labelled neighbour; None when the verdict found fewer than
    # k (then every new label enters it).
    kth_similarity = models.FloatField(null=True)

    class Meta:
        indexes = [GinIndex(fields=["transaction_ids"], name="verdict_neighbours_gin")]

    def __str__(self) -> str:
        return f"labelled neighbours behind the verdict of case {self.case_id}"
