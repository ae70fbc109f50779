"""One lock order everywhere (cases by numeric id, then transactions, then label versions;
cases.locking), and what a deadlock or serialization failure still does: rerun, never a 500.

Each test makes the interleaving that used to deadlock happen for certain: a separate
connection holds a case row while the two changes queue up behind it in a chosen order,
then lets go.
"""

from __future__ import annotations

import logging
import threading

import pytest
from django.db import connection, transaction

from cases.errors import Busy, TransitionNotAllowed
from cases.locking import conflicts_retried, is_lock_conflict, retry_on_conflict
from cases.models import AuditAction, AuditEvent, Case, CaseStatus, Transaction
from cases.tests.api_fixtures import token_client
from cases.tests.lock_fixtures import InThread, RowLocker, until_blocked_or_done
from cases.tests.workflow_fixtures import make_case, make_queue, make_reason_codes, make_user
from cases.workflow import services

pytestmark = pytest.mark.django_db(transaction=True)

# Ids of different lengths: as text "100000000" < "99999999", by number the other way round.
SHORT_ID, LONG_ID = 99_999_999, 100_000_000


@pytest.fixture
def team():
    analyst, lead = make_user("ana", "analyst"), make_user("lea", "lead")
    queue = make_queue("General", analyst, lead)
    make_reason_codes()
    return analyst, lead, queue


def no_lock_conflict_met(caplog) -> bool:
    return not [record for record in caplog.records if record.name == "cases.locking"]


def close(actor, case_id):
    return services.case_close(
        actor=actor, case_id=case_id, resolution="confirmed_fraud",
        reason_codes=["card-compromised"], comment="Card was skimmed",
    )  # fmt: skip


def test_labelling_while_the_case_closes_neither_deadlocks(team, caplog):
    """Labelling locked the transaction then the case; closing the case then its
    transactions: each held what the other waited for."""
    analyst, lead, queue = team
    case = make_case(queue, status=CaseStatus.IN_REVIEW, transactions=2)
    tx = case.transactions.order_by("id").first()
    caplog.set_level(logging.WARNING, logger="cases.locking")
    holder = RowLocker("SELECT 1 FROM cases_case WHERE id = %s FOR UPDATE", [case.pk])

    closing = InThread(lambda: close(lead, case.pk))
    until_blocked_or_done(closing)
    labelling = InThread(
        lambda: services.transaction_label(
            actor=analyst, transaction_id=tx.transaction_id, label="legitimate"
        )
    )
    until_blocked_or_done(labelling)
    holder.release()
    closing.join(), labelling.join()

    assert closing.error is None, closing.error
    assert closing.result.status == CaseStatus.CLOSED
    # The label came second: the case was closed by then, a refusal and not a deadlock.
    assert isinstance(labelling.error, TransitionNotAllowed), labelling.error
    assert no_lock_conflict_met(caplog)
    assert Transaction.objects.get(pk=tx.pk).label == "fraud"  # the resolution's default
    assert AuditEvent.objects.filter(action=AuditAction.CASE_CLOSED).count() == 1


def test_labelling_through_the_api_while_the_case_closes_is_a_refusal_not_a_500(team, caplog):
    analyst, lead, queue = team
    case = make_case(queue, status=CaseStatus.IN_REVIEW, transactions=2)
    tx = case.transactions.order_by("id").first()
    client = token_client(analyst)
    etag = client.get(f"/api/v1/cases/{case.reference}/")["ETag"]
    caplog.set_level(logging.WARNING, logger="cases.locking")
    holder = RowLocker("SELECT 1 FROM cases_case WHERE id = %s FOR UPDATE", [case.pk])

    closing = InThread(lambda: close(lead, case.pk))
    until_blocked_or_done(closing)
    labelling = InThread(
        lambda: client.post(
            f"/api/v1/transactions/{tx.transaction_id}/label/", {"label": "legitimate"},
            format="json", HTTP_IF_MATCH=etag,
        )
    )  # fmt: skip
    until_blocked_or_done(labelling)
    holder.release()
    closing.join(), labelling.join()

    assert closing.error is None and labelling.error is None, (closing.error, labelling.error)
    # The close changed the case first: the label's If-Match is stale by then.
    assert labelling.result.status_code == 412, labelling.result.content
    assert no_lock_conflict_met(caplog)


def test_a_merge_of_ids_9_and_10_while_both_are_tagged_neither_deadlocks(team, caplog):
    """The merge sorted its ids as text (LONG_ID first); tagging both cases takes them by
    number (SHORT_ID first), as everything else does."""
    analyst, lead, queue = team
    make_case(queue, id=SHORT_ID, account_id="acc_short", transactions=1)
    make_case(queue, id=LONG_ID, account_id="acc_long", transactions=1)
    caplog.set_level(logging.WARNING, logger="cases.locking")
    holder = RowLocker("SELECT 1 FROM cases_case WHERE id = %s FOR UPDATE", [SHORT_ID])

    tagging = InThread(
        lambda: services.cases_bulk_tag(actor=lead, case_ids=[SHORT_ID, LONG_ID], add=["ring"])
    )
    until_blocked_or_done(tagging)
    merging = InThread(
        lambda: services.case_merge(
            actor=lead, source_case_id=SHORT_ID, target_case_id=LONG_ID,
            justification="same card, same device",
        )
    )  # fmt: skip
    until_blocked_or_done(merging)
    holder.release()
    tagging.join(), merging.join()

    assert tagging.error is None and merging.error is None, (tagging.error, merging.error)
    assert no_lock_conflict_met(caplog)
    assert Case.objects.get(pk=SHORT_ID).status == CaseStatus.MERGED
    assert list(Case.objects.get(pk=LONG_ID).tags.values_list("name", flat=True)) == ["ring"]
    assert Transaction.objects.filter(case_id=LONG_ID).count() == 2


# --- retrying what a conflict undid -----------------------------------------------------------


def test_the_retry_reruns_a_transaction_that_lost_a_real_deadlock(team, caplog):
    """Two connections lock two rows in opposite order: ours is the deadlock's victim (the
    other waits far longer before it checks), is rolled back, and runs again."""
    _, _, queue = team
    first, second = make_case(queue, transactions=0), make_case(queue, transactions=0)
    lock_row = "SELECT 1 FROM cases_case WHERE id = %s FOR UPDATE"
    ours_has_first, theirs_has_second = threading.Event(), threading.Event()
    attempts: list[int] = []

    def theirs():
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET LOCAL deadlock_timeout = '60s'")  # so ours finds the deadlock
            cursor.execute(lock_row, [second.pk])
            theirs_has_second.set()
            ours_has_first.wait(30)
            cursor.execute(lock_row, [first.pk])  # waits for ours until ours is rolled back

    def work() -> str:
        attempts.append(len(attempts) + 1)
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET LOCAL deadlock_timeout = '100ms'")
            cursor.execute(lock_row, [first.pk])
            if len(attempts) == 1:
                ours_has_first.set()
                theirs_has_second.wait(30)
                until_blocked_or_done(other_side)
            cursor.execute(lock_row, [second.pk])
        return "done"

    other_side = InThread(theirs)
    caplog.set_level(logging.WARNING, logger="cases.locking")

    assert retry_on_conflict(work, what="test") == "done"

    other_side.join()
    assert other_side.error is None, other_side.error
    assert attempts == [1, 2]
    [warning] = [record.getMessage() for record in caplog.records]
    assert warning.startswith("test: DeadlockDetected on attempt 1 of 4; retrying in")


def test_a_conflict_every_time_is_busy_audited_once_and_changes_nothing(team):
    """A real serialization failure on each attempt: the service gives up with Busy (409),
    one refusal in the trail, the change undone."""
    analyst, _, queue = team
    case = make_case(queue, transactions=0)
    attempts: list[int] = []

    @conflicts_retried
    def case_retitle(*, actor, case_id):
        attempts.append(1)
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            cursor.execute("SELECT priority FROM cases_case WHERE id = %s", [case_id])
            other = connection.get_new_connection(connection.get_connection_params())
            other.autocommit = True
            other.execute("UPDATE cases_case SET priority = priority + 1 WHERE id = %s", [case_id])
            other.close()
            cursor.execute("UPDATE cases_case SET account_id = 'changed' WHERE id = %s", [case_id])

    with pytest.raises(Busy) as raised:
        case_retitle(actor=analyst, case_id=case.pk)

    assert len(attempts) == 4
    assert is_lock_conflict(raised.value.__cause__)
    assert raised.value.http_status == 409
    assert Case.objects.get(pk=case.pk).account_id == case.account_id
    [refusal] = AuditEvent.objects.filter(action=AuditAction.REFUSED)
    assert refusal.object_id == str(case.pk)
    assert refusal.after["attempted"] == "case_retitle" and refusal.after["error"] == "busy"
