"""Nearest-neighbour reads for the pages: similar transactions, the neighbour verdict, similar
cases (the search that finds them is cases/similarity/search.py)."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import datetime

import numpy as np
from django.contrib.postgres.aggregates import ArrayAgg
from django.db import connection
from django.db.models import Avg
from pgvector import Vector
from pgvector.django import VectorField

from cases.models import FINISHED_CASE_STATUSES, Case, Label, Transaction
from cases.policies import visible_case_ids
from cases.similarity.search import (
    MERGED_CASES_SQL,
    NEAREST_CASES_SQL,
    NO_EMBEDDING_CASE,
    NO_EMBEDDING_TRANSACTION,
    ZERO_EMBEDDING,
    Neighbour,
    SearchPlan,
    check_k,
    ef_search_setting,
    ladder,
    nearest_transactions,
)

# The verdict asks this many labelled neighbours ("9 of 10 nearest labelled ...").
VERDICT_K = 10


@dataclass(frozen=True, slots=True)
class SimilarTransactions:
    """Neighbours, most similar first. `message` says plainly why there are none to show."""

    neighbours: list[Neighbour]
    k: int
    has_embedding: bool
    message: str = ""
    plan: SearchPlan | None = None


def hide_unreadable_neighbours(similar: SimilarTransactions, viewer) -> int:
    """Blank out who and what of neighbours in cases viewer may not read (similarity, label and
    resolution stay: the evidence counts, the ids do not leak). Returns how many were hidden."""
    readable = visible_case_ids(viewer, [n.case_id for n in similar.neighbours])
    hidden = 0
    for index, neighbour in enumerate(similar.neighbours):
        if neighbour.case_id not in readable:
            hidden += 1
            similar.neighbours[index] = replace(
                neighbour, transaction_pk=0, transaction_id="", account_id="", merchant="",
                amount=None, currency="", case_id=0, case_reference="", hidden=True,
            )  # fmt: skip
    return hidden


@dataclass(frozen=True, slots=True)
class NeighbourVerdict:
    """What the k most similar labelled transactions say.

    fraud_share: fraud among them weighted by similarity (sum over fraud / sum over all).
    fraud_score: the same sum over fraud divided by k, so weak or missing neighbours count
    as no evidence: ten fraud neighbours at 0.97 give 0.97, one at 0.5 gives 0.05. It is
    the stored Case.neighbour_fraud_score. Both are None when nothing labelled was found.
    Similarities below zero count as zero.
    """

    k: int
    labelled: int
    fraud: int
    top_similarity: float | None
    fraud_share: float | None
    fraud_score: float | None

    @classmethod
    def from_neighbours(cls, neighbours: list[tuple[float, str]], *, k: int) -> NeighbourVerdict:
        """From (similarity, label) pairs, most similar first."""
        if not neighbours:
            return cls(k, 0, 0, None, None, None)
        weights = [(max(similarity, 0.0), label) for similarity, label in neighbours]
        fraud_weight = sum(weight for weight, label in weights if label == Label.FRAUD)
        total_weight = sum(weight for weight, _ in weights)
        return cls(
            k=k,
            labelled=len(neighbours),
            fraud=sum(1 for _, label in neighbours if label == Label.FRAUD),
            top_similarity=neighbours[0][0],
            fraud_share=fraud_weight / total_weight if total_weight else 0.0,
            fraud_score=fraud_weight / k,
        )

    @classmethod
    def from_summary(cls, summary: dict | None) -> NeighbourVerdict | None:
        """The verdict stored on a case (Case.neighbour_summary), or None."""
        if not summary:
            return None
        return cls(**{name: summary[name] for name in cls.__slots__})

    def as_summary(self) -> dict:
        return {name: getattr(self, name) for name in self.__slots__}

    @property
    def sentence(self) -> str:
        """E.g. "9 of 10 nearest labelled neighbours were fraud, most similar 0.97"."""
        if not self.labelled:
            return "No labelled transactions to compare with yet."
        plural = self.labelled != 1
        return (
            f"{self.fraud} of {self.labelled} nearest labelled "
            f"{'neighbours were' if plural else 'neighbour was'} fraud, "
            f"most similar {self.top_similarity:.2f}"
        )


@dataclass(frozen=True, slots=True)
class SimilarCase:
    case_id: int
    reference: str
    account_id: str
    status: str
    resolution: str
    priority: int
    transaction_count: int
    neighbour_fraud_score: float | None
    similarity: float


@dataclass(frozen=True, slots=True)
class SimilarCases:
    cases: list[SimilarCase]
    k: int
    has_embedding: bool
    message: str = ""


# --- public selectors ----------------------------------------------------------------------


def similar_transactions_for_transaction(
    transaction_obj: Transaction,
    *,
    k: int = 10,
    only_labelled: bool = False,
    exclude_same_account: bool = False,
    occurred_after: datetime | None = None,
    occurred_before: datetime | None = None,
) -> SimilarTransactions:
    """The k transactions most similar to this one (itself left out), most similar first.

    k rows whenever k match the filters (see the module docstring). The time window is
    occurred_after <= occurred_at < occurred_before.
    """
    return _similar_to(
        transaction_obj.embedding, NO_EMBEDDING_TRANSACTION, k=k, only_labelled=only_labelled,
        exclude_transaction_pk=transaction_obj.pk,
        exclude_account_id=transaction_obj.account_id if exclude_same_account else None,
        occurred_after=occurred_after, occurred_before=occurred_before,
    )  # fmt: skip


def similar_transactions_for_case(
    case: Case,
    *,
    k: int = 10,
    only_labelled: bool = False,
    exclude_same_account: bool = False,
    occurred_after: datetime | None = None,
    occurred_before: datetime | None = None,
) -> SimilarTransactions:
    """The k transactions of other cases nearest to this case's centroid (the mean of its
    transactions' embeddings), most similar first; the same promise as for one transaction."""
    check_k(k)
    return _similar_to(
        case_centroid(case.pk), NO_EMBEDDING_CASE, k=k, only_labelled=only_labelled,
        exclude_case_id=case.pk,
        exclude_account_id=case.account_id if exclude_same_account else None,
        occurred_after=occurred_after, occurred_before=occurred_before,
    )  # fmt: skip


@dataclass(frozen=True, slots=True)
class CaseNeighbourLists:
    """A case's two neighbour lists, both from its centroid, and what that centroid averages."""

    similar: SimilarTransactions  # of all transactions of other cases, labelled or not
    labelled: SimilarTransactions  # the labelled ones: what the neighbour verdict counts
    searched_for: list[str]  # the case's transactions with an embedding, oldest first


def case_neighbour_lists(
    case: Case, *, k: int = 10, k_labelled: int = VERDICT_K
) -> CaseNeighbourLists:
    """The k transactions of other cases nearest to the case's centroid, and the k_labelled
    labelled ones: the very lookup behind the stored neighbour verdict
    (cases_refresh_neighbour_verdict), made now, so a page can show the evidence for "4 of 10
    nearest labelled neighbours were fraud". The centroid is read once, with the ids of the
    transactions it averages."""
    check_k(k)
    check_k(k_labelled)
    found = Transaction.objects.filter(case_id=case.pk, embedding__isnull=False).aggregate(
        centroid=Avg("embedding", output_field=VectorField()),
        ids=ArrayAgg("transaction_id", order_by=("occurred_at", "id"), default=[]),
    )
    centroid = found["centroid"]
    return CaseNeighbourLists(
        similar=_similar_to(centroid, NO_EMBEDDING_CASE, k=k, exclude_case_id=case.pk),
        labelled=_similar_to(
            centroid,
            NO_EMBEDDING_CASE,
            k=k_labelled,
            only_labelled=True,
            exclude_case_id=case.pk,
        ),  # fmt: skip
        searched_for=list(found["ids"]),
    )


def _similar_to(vector, no_embedding_message: str, *, k: int, **search) -> SimilarTransactions:
    """The nearest transactions to vector, or why there is nothing to compare it with."""
    check_k(k)
    if vector is None:
        return SimilarTransactions([], k, has_embedding=False, message=no_embedding_message)
    if not np.any(vector):
        return SimilarTransactions([], k, has_embedding=True, message=ZERO_EMBEDDING)
    neighbours, plan = nearest_transactions(vector, k=k, **search)
    return SimilarTransactions(neighbours, k, has_embedding=True, plan=plan)


def case_centroid(case_id: int) -> np.ndarray | None:
    """The mean of the case's transaction embeddings, None when none has one."""
    return (
        Transaction.objects.filter(case_id=case_id, embedding__isnull=False)
        .aggregate(centroid=Avg("embedding", output_field=VectorField()))
        .get("centroid")
    )


def case_neighbour_verdict(case: Case, *, k: int = 10) -> NeighbourVerdict | None:
    """The verdict of the k labelled transactions of other cases nearest to this case's
    centroid, computed now; None when the case has no embedding to compare."""
    centroid = case_centroid(case.pk)
    if centroid is None or not np.any(centroid):
        return None
    return neighbour_verdict(centroid, k=k, exclude_case_id=case.pk)


def neighbour_verdict(
    vector, *, k: int = 10, exclude_case_id: int | None = None
) -> NeighbourVerdict:
    """The verdict of the k labelled transactions nearest to vector (leaving out one case's
    own, which would only echo the analyst's decision on it)."""
    neighbours, _ = nearest_transactions(
        vector, k=k, only_labelled=True, exclude_case_id=exclude_case_id
    )
    return NeighbourVerdict.from_neighbours([(n.similarity, n.label) for n in neighbours], k=k)


@dataclass(frozen=True, slots=True)
class VerdictBehind:
    """A verdict with the labelled transactions it rests on: their ids, and the similarity of
    the k-th (None when fewer than k were found: then any new label would enter it)."""

    verdict: NeighbourVerdict
    transaction_ids: list[int]
    kth_similarity: float | None


def neighbour_verdict_behind(vector, *, k: int, exclude_case_id: int) -> VerdictBehind:
    """neighbour_verdict, with the neighbours behind it (what cases.similarity.services stores
    to find the cases a new or changed label may move)."""
    neighbours, _ = nearest_transactions(
        vector, k=k, only_labelled=True, exclude_case_id=exclude_case_id
    )
    verdict = NeighbourVerdict.from_neighbours([(n.similarity, n.label) for n in neighbours], k=k)
    kth = neighbours[k - 1].similarity if len(neighbours) >= k else None
    return VerdictBehind(verdict, [n.transaction_pk for n in neighbours], kth)


def similar_cases(case: Case, *, k: int = 10, exclude_same_account: bool = False) -> SimilarCases:
    """The k cases whose centroids are nearest to this case's, most similar first (merged
    cases left out). Other cases' centroids are those stored by the neighbour refresh
    (cases/services/similarity.py); this case's own is computed now."""
    check_k(k)
    centroid = case_centroid(case.pk)
    if centroid is None:
        return SimilarCases([], k, has_embedding=False, message=NO_EMBEDDING_CASE)
    if not np.any(centroid):
        return SimilarCases([], k, has_embedding=True, message=ZERO_EMBEDDING)
    conditions = ["case_id <> %(case_id)s", f"case_id NOT IN ({MERGED_CASES_SQL})"]
    params = {"query": Vector(centroid).to_text(), "k": k, "case_id": case.pk}
    if exclude_same_account:
        conditions.append(
            "case_id NOT IN (SELECT id FROM cases_case WHERE account_id = %(account)s)"
        )
        params["account"] = case.account_id
    sql = NEAREST_CASES_SQL.format(conditions=" AND ".join(conditions))
    rows, _ = ladder(
        sql, params, k=k, ef_start=max(ef_search_setting(), k + 1),
        index_rows_sql="FROM cases_casecentroid",
    )  # fmt: skip
    ranked = [(case_id, similarity) for case_id, similarity in rows if not math.isnan(similarity)]
    cases = Case.objects.in_bulk([case_id for case_id, _ in ranked])
    return SimilarCases(
        [
            SimilarCase(
                case_id=case_id, reference=cases[case_id].reference,
                account_id=cases[case_id].account_id, status=cases[case_id].status,
                resolution=cases[case_id].resolution, priority=cases[case_id].priority,
                transaction_count=cases[case_id].transaction_count,
                neighbour_fraud_score=cases[case_id].neighbour_fraud_score, similarity=similarity,
            )
            for case_id, similarity in ranked
        ],
        k,
        has_embedding=True,
    )  # fmt: skip


def open_cases_labels_move(transaction_ids: list[int]) -> set[int]:
    """The open cases whose stored neighbour verdict these transactions' labels may change,
    from what VerdictNeighbours holds beside each verdict:

    - the verdict rests on one of them (its GIN index): relabelled or withdrawn;
    - one of them, labelled now, is at least as similar to the case's centroid as the k-th
      neighbour behind the verdict (or the verdict had fewer than k, or was never stored):
      it enters the k nearest.

    The second is an exact scan of the open cases' centroids against the labelled embeddings
    (no index answers "nearer than each case's own k-th"); bench/RESULTS.md has its cost. A
    case's own transactions are never its neighbours (the verdict leaves its case out).
    """
    with connection.cursor() as cursor:
        cursor.execute(
            """
            WITH labelled AS MATERIALIZED (
                SELECT id, case_id, embedding FROM cases_transaction
                WHERE id = ANY(%(ids)s) AND embedding IS NOT NULL AND NOT (label = '')
            ), touched AS (
                SELECT case_id FROM cases_verdictneighbours
                WHERE transaction_ids && %(ids)s::bigint[]
                UNION
                SELECT centroid.case_id
                FROM cases_casecentroid centroid
                JOIN cases_case cs ON cs.id = centroid.case_id
                     AND NOT (cs.status = ANY(%(finished)s))
                LEFT JOIN cases_verdictneighbours stored ON stored.case_id = centroid.case_id
                JOIN labelled ON labelled.case_id <> centroid.case_id
                -- A zero vector (NaN distance, which PostgreSQL sorts above every number) is
                -- nobody's neighbour.
                WHERE (centroid.embedding <=> labelled.embedding) <> 'NaN'::float8
                  AND (stored.kth_similarity IS NULL
                       OR 1 - (centroid.embedding <=> labelled.embedding)
                          >= stored.kth_similarity - %(tolerance)s)
            )
            SELECT touched.case_id FROM touched
            JOIN cases_case cs ON cs.id = touched.case_id AND NOT (cs.status = ANY(%(finished)s))
            """,
            {
                "ids": transaction_ids,
                "finished": [str(status) for status in FINISHED_CASE_STATUSES],
                # The stored similarity came through a text vector: rounding, not distance.
                "tolerance": 1e-6,
            },
        )
        return {row[0] for row in cursor.fetchall()}
