"""One transaction's "why was this flagged", as the case page's fragment loads it when its
panel is opened (the open one comes with the page: cases.casefile.selectors.case_page)."""

from __future__ import annotations

from cases.casefile.explain import Explanation, explain_transactions, population_feature_stats
from cases.casefile.neighbours import explain_with_nearest_frauds
from cases.casefile.selectors import account_transactions
from cases.models import Case


def transaction_explanation(case: Case, transaction_pk: int, *, viewer) -> Explanation | None:
    """Why one of the case's transactions was flagged (as in case_page, with its nearest
    confirmed frauds); None if not the case's."""
    tx = case.transactions.defer("embedding").filter(pk=transaction_pk).first()
    if tx is None:
        return None
    rows = account_transactions(case.account_id)
    explanation = explain_transactions([tx], rows, population_feature_stats())[0]
    explain_with_nearest_frauds(explanation, case=case, viewer=viewer)
    return explanation
