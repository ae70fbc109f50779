"""A row that joined a case before the close can carry a later ingested_at than closed_at.

bench/load.py counted rows "stored in a case already closed" as ingested_at > closed_at. But
closed_at is the closing transaction's now(): its start, before it waited for the case lock
an ingest chunk held (cases.ingest.case_opening locks the account's live case until the chunk
commits), while ingested_at is the clock when the chunk copied its rows, later. Such a row
joined the case before the close, which saw it and gave it the resolution's decision: the
timestamps' order says nothing about which came first. Two real connections show it.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.db import transaction

from cases.ingest import case_opening
from cases.models import Case, CaseStatus, Transaction
from cases.tests.lock_fixtures import InThread, until_blocked_or_done
from cases.tests.workflow_fixtures import make_case, make_queue, make_reason_codes, make_user
from cases.workflow import services

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_row_the_close_waited_for_is_in_the_close_though_ingested_after_closed_at():
    lead = make_user("lea", "lead")
    queue = make_queue("General", lead)
    make_reason_codes()
    case = make_case(queue, status=CaseStatus.IN_REVIEW, transactions=1)
    locked, may_copy = threading.Event(), threading.Event()

    def chunk() -> Transaction:
        # What an ingest chunk does: lock the account's live case, then copy rows into it
        # stamped with the clock at the copy (cases.ingest.copy), then commit.
        with transaction.atomic():
            case_ids, opened = case_opening.cases_open_for_accounts(account_ids=[case.account_id])
            assert (case_ids, opened) == ({case.account_id: case.pk}, [])
            locked.set()
            assert may_copy.wait(30)
            return Transaction.objects.create(
                transaction_id="tx_late", account_id=case.account_id, case_id=case.pk,
                occurred_at=datetime(2026, 11, 1, 13, tzinfo=UTC), amount=Decimal("10.00"),
                currency="EUR", similarity_score=0.9, model_version="m1", outcome="block",
            )  # fmt: skip

    ingest = InThread(chunk)
    assert locked.wait(30)
    closing = InThread(
        lambda: services.case_close(
            actor=lead, case_id=case.pk, resolution="confirmed_fraud",
            reason_codes=["card-compromised"], comment="Card was skimmed",
        )
    )  # fmt: skip
    until_blocked_or_done(closing)  # its transaction (and now()) began: it waits for the chunk
    may_copy.set()
    ingest.join(), closing.join()

    assert ingest.error is None and closing.error is None, (ingest.error, closing.error)
    closed = Case.objects.get(pk=case.pk)
    late = Transaction.objects.get(transaction_id="tx_late")
    assert closed.status == CaseStatus.CLOSED
    # The timestamps say "after the close" ...
    assert late.ingested_at > closed.closed_at
    # ... but the close saw the row: it gave it the resolution's decision, at its own time.
    assert (late.decision, late.decided_at, late.label) == ("block", closed.closed_at, "fraud")
    # What bench/load.py counts now: rows of a closed case the close never decided.
    assert not Transaction.objects.filter(case__status=CaseStatus.CLOSED, decision="").exists()
