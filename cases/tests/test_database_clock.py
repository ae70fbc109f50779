"""Times that must agree across hosts come from the database's clock (cases.clock), not from
the clock of whichever web server or worker did the work.

How the tests tell: inside one transaction PostgreSQL's now() stands still at the
transaction's start, while a host's clock runs on. Each test reads now() (T), lets the host's
clock move on, then acts: what it records or judges must be by T exactly.
"""

from __future__ import annotations

import time
from datetime import timedelta

import pytest

from analytics.operations.selectors import time_to_breach
from cases.casefile.selectors import case_detail, case_page
from cases.clock import database_now
from cases.labels.services.export import label_batch_claim
from cases.models import AuditAction, AuditEvent, CaseStatus, LabelStatus, LabelVersion
from cases.queue.selectors import QueueFilters, case_queue
from cases.tests.workflow_fixtures import make_case, make_queue, make_reason_codes, make_user
from cases.workflow import services

# The test's own transaction (pytest-django's db fixture) is the one transaction.
pytestmark = pytest.mark.django_db

HOST_CLOCK_MOVES_ON = 0.05  # seconds


@pytest.fixture
def team():
    analyst, lead = make_user("ana", "analyst"), make_user("lea", "lead")
    queue = make_queue("General", analyst, lead, is_default=True)
    make_reason_codes()
    return analyst, lead, queue


def test_two_events_of_one_transaction_carry_its_database_time_exactly(team):
    analyst, _, queue = team
    case = make_case(queue, status=CaseStatus.IN_REVIEW, transactions=2)
    first, second = case.transactions.order_by("id")
    transaction_time = database_now()

    time.sleep(HOST_CLOCK_MOVES_ON)
    services.transaction_decide(
        actor=analyst, transaction_id=first.transaction_id, decision="block"
    )
    time.sleep(HOST_CLOCK_MOVES_ON)
    services.transaction_label(actor=analyst, transaction_id=second.transaction_id, label="fraud")

    events = AuditEvent.objects.filter(
        action__in=[AuditAction.TRANSACTION_DECIDED, AuditAction.TRANSACTION_LABELLED]
    )
    assert [event.occurred_at for event in events] == [transaction_time, transaction_time]
    first.refresh_from_db()
    assert first.decided_at == transaction_time
    assert LabelVersion.objects.get(transaction=second).decided_at == transaction_time
    assert database_now() == transaction_time  # still the same transaction


def test_a_case_due_by_the_database_clock_is_not_overdue_by_a_fast_host_clock(team):
    _, lead, queue = team
    transaction_time = database_now()
    case = make_case(queue, due_at=transaction_time + timedelta(seconds=HOST_CLOCK_MOVES_ON / 2))

    time.sleep(HOST_CLOCK_MOVES_ON)  # by the host's clock the due time has passed

    [row] = case_queue(user=lead, tab="all", filters=QueueFilters(), sort="", page=1).page
    assert row.pk == case.pk and row.sla_breached is False
    page = case_page(case_detail(case.reference, viewer=lead), viewer=lead, with_similar=False)
    assert page.sla_breached is False and page.sla.startswith("due in ")
    assert time_to_breach() == [["General", "< 1 h", 1]]  # the operations dashboard's


def test_the_burst_window_is_measured_on_the_database_clock(team, settings):
    analyst, _, queue = team
    settings.FRAUDCASE_LABEL_BURST_THRESHOLD = 2
    settings.FRAUDCASE_LABEL_BURST_WINDOW_MINUTES = 60
    window = timedelta(minutes=60)
    transaction_time = database_now()
    # Two contradicting labels that entered the window just after its start by the database
    # clock; by the host's clock, a moment later, they have left it.
    earlier = make_case(queue, status=CaseStatus.IN_REVIEW, transactions=2)
    for tx in earlier.transactions.all():
        LabelVersion.objects.create(
            transaction=tx, version=1, label="fraud", analyst=analyst, analyst_pseudonym="an_x",
            case=earlier, decided_at=transaction_time - window + timedelta(milliseconds=10),
            why="analyst", model_version="m1", similarity_score=0.7, contradicts_model=True,
            status=LabelStatus.PENDING,
        )  # fmt: skip
    case = make_case(queue, status=CaseStatus.IN_REVIEW, transactions=1)

    time.sleep(HOST_CLOCK_MOVES_ON)
    services.transaction_label(
        actor=analyst, transaction_id=case.transactions.get().transaction_id, label="fraud"
    )

    version = LabelVersion.objects.get(case=case)
    assert (version.status, version.hold_reason) == (LabelStatus.HELD, "contradiction_burst")


def test_an_export_batch_is_named_and_partitioned_by_the_database_clock(team, settings):
    analyst, _, queue = team
    settings.FRAUDCASE_LABEL_EXPORT_PREFIX = "labels"
    case = make_case(queue, status=CaseStatus.IN_REVIEW, transactions=1)
    transaction_time = database_now()

    time.sleep(HOST_CLOCK_MOVES_ON)
    services.transaction_label(
        actor=analyst, transaction_id=case.transactions.get().transaction_id, label="fraud"
    )
    batch = label_batch_claim()

    assert batch.created_at == transaction_time
    assert batch.batch_id.startswith(f"{transaction_time:%Y%m%dT%H%M%SZ}-")
    assert (
        batch.object_key
        == f"labels/dt={transaction_time:%Y-%m-%d}/labels-{batch.batch_id}.jsonl.gz"
    )


def test_ingest_stamps_runs_cases_and_rows_with_the_database_clock(team):
    import json

    from cases.fileformats import encode_rows
    from cases.ingest.intake import flags_submit
    from cases.models import Case, Transaction
    from cases.tests.workflow_fixtures import make_user as make_service_user
    from conftest import contract_row

    service = make_service_user("flag-bot", "service")
    row = json.loads(encode_rows([contract_row(0)], "jsonl"))  # as the API parses it
    transaction_time = database_now()

    time.sleep(HOST_CLOCK_MOVES_ON)
    result = flags_submit(actor=service, rows=[row])

    assert [r.outcome for r in result.rows] == ["loaded"], result.rows
    tx = Transaction.objects.get(transaction_id=row["transaction_id"])
    case = Case.objects.get(pk=tx.case_id)
    assert tx.ingested_at == transaction_time
    assert case.opened_at == transaction_time
    assert result.run.started_at == transaction_time
    # The run's end is the database's wall clock (clock_timestamp()), after its start.
    assert result.run.finished_at > transaction_time
