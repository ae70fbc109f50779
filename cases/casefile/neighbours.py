"""The case page's nearest neighbours: the labelled transactions behind the neighbour verdict
and the most similar transactions of all, each list saying what it was searched for.

Both lists are found from the case's centroid (the mean of the embeddings of its transactions
that carry one), the very vector the stored verdict was computed from. Neighbours in cases the
viewer may not read keep their similarity, label and resolution; who and what are blanked.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cases.models import Case, Label, Transaction
from cases.similarity.search import nearest_transactions
from cases.similarity.selectors import (
    VERDICT_K,
    NeighbourVerdict,
    SimilarTransactions,
    case_neighbour_lists,
    hide_unreadable_neighbours,
)

SIMILAR_K = 10


@dataclass
class CaseNeighbours:
    similar: SimilarTransactions  # of all transactions, labelled or not
    similar_hidden: int
    labelled: SimilarTransactions  # the labelled ones behind the verdict
    labelled_hidden: int
    verdict: NeighbourVerdict | None  # what the labelled list says now
    stored_verdict: NeighbourVerdict | None  # the one the queue and priority use
    searched_for: list[str]  # ids of the case's transactions whose embeddings were averaged
    transaction_count: int

    @property
    def stored_verdict_differs(self) -> bool:
        """The stored verdict predates labels since given (it is refreshed hourly and on
        new labels): the page says so rather than show two numbers without a word."""

        def counts(verdict: NeighbourVerdict | None):
            return (verdict.fraud, verdict.labelled) if verdict and verdict.labelled else None

        return counts(self.stored_verdict) != counts(self.verdict)


def case_neighbours(case: Case, *, viewer, k: int = SIMILAR_K) -> CaseNeighbours:
    """Both neighbour lists of the case as the viewer may see them (one centroid read, two
    k-NN searches; the transaction count is the case's own column)."""
    lists = case_neighbour_lists(case, k=k, k_labelled=VERDICT_K)
    labelled = lists.labelled
    verdict = None
    if not labelled.message:
        verdict = NeighbourVerdict.from_neighbours(
            [(n.similarity, n.label) for n in labelled.neighbours], k=VERDICT_K
        )
    return CaseNeighbours(
        similar=lists.similar,
        similar_hidden=hide_unreadable_neighbours(lists.similar, viewer),
        labelled=labelled,
        labelled_hidden=hide_unreadable_neighbours(labelled, viewer),
        verdict=verdict,
        stored_verdict=NeighbourVerdict.from_summary(case.neighbour_summary),
        searched_for=lists.searched_for,
        transaction_count=case.transaction_count,
    )


FRAUDS_SHOWN = 3


def explain_with_nearest_frauds(explanation, *, case: Case, viewer, k: int = VERDICT_K) -> None:
    """Add to an explanation the nearest confirmed frauds of its transaction: of the k labelled
    transactions of other cases nearest to it (its own case's labels would only echo the
    analyst), those labelled fraud, at most FRAUDS_SHOWN, other queues' blanked."""
    tx = explanation.transaction
    vector = Transaction.objects.filter(pk=tx.pk).values_list("embedding", flat=True).first()
    if vector is None or not np.any(vector):
        return
    neighbours, _ = nearest_transactions(vector, k=k, only_labelled=True, exclude_case_id=case.pk)
    frauds = SimilarTransactions(
        [n for n in neighbours if n.label == Label.FRAUD][:FRAUDS_SHOWN], k, has_embedding=True
    )
    explanation.nearest_hidden = hide_unreadable_neighbours(frauds, viewer)
    explanation.nearest_frauds = frauds.neighbours
    explanation.nearest_labelled = len(neighbours)
    explanation.nearest_fraud_count = sum(1 for n in neighbours if n.label == Label.FRAUD)
