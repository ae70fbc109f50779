"""Shadow scores: a candidate model's score of a flagged transaction, delivered under shadow/.

A shadow deployment scores the same traffic as the detector in production (the champion)
without acting on it; the team compares both against analyst labels before promoting the
candidate (analytics.quality.shadow).
"""

from django.db import models
from django.utils import timezone


class ShadowScore(models.Model):
    """One (transaction, model version) score from a shadow model.

    Keyed by the transaction's id as text, without a foreign key: a shadow file may arrive
    before the flagged file that carries its transaction. At most one score per
    (transaction_id, model_version): a re-delivery is a duplicate, the first kept.

    transaction_pk links the score to cases_transaction.id once the transaction is in (set at
    shadow ingest, else by cases.shadow.services.shadow_scores_link), so reads join labelled
    transactions by the integer key instead of mapping every transaction's text id. It stays
    NULL while the transaction has not arrived, and for a score of the transaction's own model
    version (never a shadow comparison): reads join those few unlinked rows on the text.
    A plain integer, not a foreign key: it is a lookup cache of the text key (the truth), and
    the ORM's deletion of transactions need not visit shadow scores.
    """

    transaction_id = models.CharField(max_length=128)
    model_version = models.CharField(max_length=64)
    similarity_score = models.FloatField()
    outcome = models.CharField(max_length=16, blank=True)
    scored_at = models.DateTimeField(null=True, blank=True)
    ingest_run = models.ForeignKey(
        "cases.IngestRun", on_delete=models.PROTECT, related_name="shadow_scores"
    )
    source_row = models.PositiveBigIntegerField()
    ingested_at = models.DateTimeField(default=timezone.now)
    transaction_pk = models.BigIntegerField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["transaction_id", "model_version"], name="shadow_score_once_per_model"
            ),
        ]
        indexes = [
            models.Index(fields=["model_version"], name="shadow_score_model_idx"),
            models.Index(fields=["transaction_pk", "model_version"], name="shadow_score_pk_idx"),
            # The scores still waiting for their transaction (few): the link task and reads.
            models.Index(
                fields=["model_version"],
                condition=models.Q(transaction_pk__isnull=True),
                name="shadow_score_unlinked_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.model_version} scored {self.transaction_id}: {self.similarity_score}"
