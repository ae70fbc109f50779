"""New flags never land in a finished case: an analyst closes or merges the account's case
while an ingest chunk is taking rows in for it (two real connections, interleaved)."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, transaction

from cases.fileformats import encode_rows
from cases.ingest import services as ingest_services
from cases.models import FINISHED_CASE_STATUSES, Case, CaseStatus, IngestRun, Transaction
from cases.tests.workflow_fixtures import make_reason_codes, make_user
from cases.workflow import services as case_services
from conftest import contract_row, put_file, wait_until

pytestmark = pytest.mark.django_db(transaction=True)


class HeldChange:
    """Runs a case service in a thread of its own, inside a transaction kept open (its row
    locks held) until release(): another connection, as an analyst's request would be."""

    def __init__(self, change) -> None:
        self.change = change
        self.done_changing = threading.Event()
        self.may_commit = threading.Event()
        self.errors: list[BaseException] = []
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            with transaction.atomic():
                self.change()
                self.done_changing.set()
                assert self.may_commit.wait(60), "the test never released the change"
        except BaseException as exc:  # surfaced by the test
            self.errors.append(exc)
            self.done_changing.set()
        finally:
            connection.close()

    def start(self) -> HeldChange:
        self.thread.start()
        assert self.done_changing.wait(30)
        assert self.errors == []
        return self

    def commit(self) -> None:
        self.may_commit.set()
        self.thread.join(30)
        assert self.errors == []


class IngestInThread:
    """ingest_run_execute on its own connection; its backend pid, to see it wait for a lock."""

    def __init__(self, run_id: int) -> None:
        self.run_id = run_id
        self.pid: int | None = None
        self.errors: list[BaseException] = []
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                self.pid = cursor.fetchone()[0]
            ingest_services.ingest_run_execute(run_id=self.run_id)
        except BaseException as exc:
            self.errors.append(exc)
        finally:
            connection.close()

    def start(self) -> IngestInThread:
        self.thread.start()
        wait_until(lambda: self.pid is not None or self.errors, timeout=30)
        return self

    def waiting_for_a_lock(self) -> bool:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", [self.pid]
            )
            row = cursor.fetchone()
        return bool(row and row[0] == "Lock")

    def join(self) -> None:
        self.thread.join(60)
        assert not self.thread.is_alive(), "the ingest never finished"
        assert self.errors == []


def registered_run(s3, bucket: str, key: str, rows: list[dict]) -> int:
    put_file(s3, bucket, key, encode_rows(rows, "csv"))
    [s3_object] = [o for o in ingest_services.list_objects(bucket=bucket, prefix=key)]
    run, _ = ingest_services.ingest_run_register(s3_object=s3_object, triggered_by="test")
    return run.pk


def close_case(actor, case: Case):
    return lambda: case_services.case_close(
        actor=actor, case_id=case.pk, resolution="false_positive",
        reason_codes=["customer-confirmed"], comment="The customer confirmed it.",
    )  # fmt: skip


def merge_case(actor, case: Case, into: Case):
    return lambda: case_services.case_merge(
        actor=actor, source_case_id=case.pk, target_case_id=into.pk, justification="same ring"
    )


@pytest.mark.parametrize("finish", ["close", "merge"])
def test_rows_of_a_case_closed_or_merged_while_they_join_open_a_live_case(s3, bucket, finish):
    lead = make_user("lead", "lead")
    make_reason_codes()
    first = registered_run(s3, bucket, "flagged/1.csv", [
        contract_row(1, account_id="acc_X"), contract_row(2, account_id="acc_Z"),
    ])  # fmt: skip
    ingest_services.ingest_run_execute(run_id=first)
    case_x, case_z = Case.objects.get(account_id="acc_X"), Case.objects.get(account_id="acc_Z")
    second = registered_run(s3, bucket, "flagged/2.csv", [
        contract_row(3, account_id="acc_X"), contract_row(4, account_id="acc_Y"),
    ])  # fmt: skip

    # The analyst's change has locked the case and not committed yet when the chunk reaches
    # it: the chunk waits for the lock; then the change commits, and the chunk goes on.
    change = close_case(lead, case_x) if finish == "close" else merge_case(lead, case_x, case_z)
    analyst = HeldChange(change).start()
    ingest = IngestInThread(second).start()
    wait_until(ingest.waiting_for_a_lock, timeout=30, message="the chunk to wait for the case")
    analyst.commit()
    ingest.join()

    case_x.refresh_from_db()
    assert case_x.status == (CaseStatus.CLOSED if finish == "close" else CaseStatus.MERGED)
    new_flag = Transaction.objects.select_related("case").get(transaction_id="tx_00000003")
    assert new_flag.case.status not in FINISHED_CASE_STATUSES, (
        "a new flag landed in a finished case"
    )
    assert new_flag.case.account_id == "acc_X" and new_flag.case_id != case_x.pk
    assert new_flag.case.transaction_count == 1
    run = IngestRun.objects.get(pk=second)
    assert (run.status, run.rows_loaded, run.cases_opened) == (IngestRun.Status.SUCCEEDED, 2, 2)
    if finish == "close":
        assert case_x.transactions.count() == case_x.transaction_count == 1
    else:
        assert case_x.transactions.count() == 0
        assert Case.objects.get(pk=case_z.pk).transactions.count() == 2
