"""Label writes take no lock on rows shared with other cases' label writes (issue 14).

The label-fact triggers (analytics migrations 0002-0004) kept per-day counters (labels per
analyst and day; label-fact changes per day) by upserting one shared row per key inside every
label write. A close records its default labels after its first audit event (it holds the
audit chain's lock by then), while a single label takes the day's counter row before its
event: chain then row against row then chain, a deadlock (bench/load.py's two 500s). The
counters are append-only now: a label write inserts its own rows and locks nobody else's.

The test makes the interleaving happen for certain: a separate connection holds the audit
chain's lock while the close, then the label, queue up behind it, each having done what it
does before its first event; then it lets go and the close gets the chain first.
"""

from __future__ import annotations

import logging
from datetime import date, timedelta

import pytest
from django.db import connection

from analytics.common.ranges import DayRange
from analytics.labels_health import selectors as health
from cases.audit.trail import AUDIT_CHAIN_LOCK
from cases.models import AuditAction, AuditEvent, CaseStatus, Transaction
from cases.tests.lock_fixtures import (
    InThread,
    RowLocker,
    until_blocked_or_done,
    waits_for_an_advisory_lock,
)
from cases.tests.workflow_fixtures import make_case, make_queue, make_reason_codes, make_user
from cases.workflow import services

pytestmark = pytest.mark.django_db(transaction=True)


def lock_conflicts(caplog) -> list[str]:
    return [record.getMessage() for record in caplog.records if record.name == "cases.locking"]


def label_fact_changes(day: date) -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT coalesce(sum(changes), 0) FROM analytics_labelfactday WHERE day = %s", [day]
        )
        return int(cursor.fetchone()[0])


@pytest.mark.parametrize("shared", ["label_fact_day", "label_day_rollup"])
def test_closing_a_case_while_another_case_is_labelled_does_not_deadlock(caplog, shared):
    analyst, lead = make_user("ana", "analyst"), make_user("lea", "lead")
    queue = make_queue("General", analyst, lead)
    make_reason_codes()
    # Every transaction of both cases occurred on 2026-11-01: one shared label-fact day.
    closing_case = make_case(queue, status=CaseStatus.IN_REVIEW, transactions=2)
    other_case = make_case(queue, status=CaseStatus.IN_REVIEW, transactions=1)
    labelled = other_case.transactions.get()
    labeller = analyst
    if shared == "label_day_rollup":
        # Another fact day, but the same analyst, day and label: one shared rollup key.
        Transaction.objects.filter(pk=labelled.pk).update(
            occurred_at=labelled.occurred_at + timedelta(days=1)
        )
        labeller = lead
    caplog.set_level(logging.WARNING, logger="cases.locking")
    chain = RowLocker("SELECT pg_advisory_xact_lock(%s)", [AUDIT_CHAIN_LOCK])

    closing = InThread(
        lambda: services.case_close(
            actor=lead, case_id=closing_case.pk, resolution="confirmed_fraud",
            reason_codes=["card-compromised"], comment="Card was skimmed",
        )
    )  # fmt: skip
    until_blocked_or_done(closing, waits=waits_for_an_advisory_lock)
    labelling = InThread(
        lambda: services.transaction_label(
            actor=labeller, transaction_id=labelled.transaction_id, label="fraud"
        )
    )
    until_blocked_or_done(labelling, waits=waits_for_an_advisory_lock)
    chain.release()
    closing.join(), labelling.join()

    assert closing.error is None and labelling.error is None, (closing.error, labelling.error)
    # Neither was undone and rerun: no deadlock, not even one a retry hid.
    assert lock_conflicts(caplog) == []
    assert AuditEvent.objects.filter(action=AuditAction.CASE_CLOSED).count() == 1
    assert AuditEvent.objects.filter(action=AuditAction.TRANSACTION_LABELLED).count() == 3
    assert set(Transaction.objects.values_list("label", flat=True)) == {"fraud"}
    # The counters still count: a label fact written per transaction, a version each.
    if shared == "label_fact_day":
        assert label_fact_changes(date(2026, 11, 1)) == 3
        expected = [["ana", 1, 1], ["lea", 2, 2]]
    else:
        assert (label_fact_changes(date(2026, 11, 1)), label_fact_changes(date(2026, 11, 2))) == (
            2,
            1,
        )
        expected = [["lea", 3, 3]]
    today = closing.result.closed_at.date()
    per_analyst = health.labels_per_analyst(DayRange(today, today))
    assert [row[1:] for row in per_analyst] == expected
