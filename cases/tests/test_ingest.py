"""Ingest from the real embedded S3 server into the real Postgres."""

import gzip
import io
import json
from decimal import Decimal

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from django.core.management import CommandError, call_command
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from cases.fileformats import encode_rows
from cases.ingest import chunks as ingest_chunks
from cases.ingest import services as ingest_services
from cases.ingest.case_opening import case_priority, cases_refresh_priority
from cases.models import Case, CaseStatus, IngestRun, QuarantinedRow, Transaction
from conftest import contract_row, put_file

pytestmark = pytest.mark.django_db

FORMATS = ["csv", "csv.gz", "jsonl", "jsonl.gz", "parquet"]


def scan_and_ingest(bucket: str) -> list[IngestRun]:
    run_ids = ingest_services.inbox_scan(bucket=bucket)
    return [ingest_services.ingest_run_execute(run_id=run_id) for run_id in run_ids]


def assert_books_balance(run: IngestRun) -> None:
    assert run.rows_read == run.rows_loaded + run.rows_duplicate + run.rows_quarantined


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_loads_every_row_with_its_values(s3, bucket, fmt):
    rows = [contract_row(i) for i in range(2500)]  # more than two chunks of 1000
    rows[7]["source_ip"] = "2a00:1450:4001:80b::200e"
    put_file(s3, bucket, f"flagged/day1/part.{fmt}", encode_rows(rows, fmt))

    [run] = scan_and_ingest(bucket)

    assert run.status == IngestRun.Status.SUCCEEDED, run.error
    assert (run.rows_read, run.rows_loaded, run.rows_duplicate, run.rows_quarantined) == (
        2500,
        2500,
        0,
        0,
    )
    assert run.file_format == fmt
    assert run.bytes_read == run.size_bytes and run.progress_percent == 100
    assert Transaction.objects.filter(ingest_run=run).count() == 2500
    stored = Transaction.objects.get(transaction_id="tx_00000007")
    assert stored.amount == Decimal("19.50")
    assert stored.occurred_at == rows[7]["occurred_at"]
    assert stored.source_ip == "2a00:1450:4001:80b::200e"
    assert stored.features == {"log_amount": 2.5, "hour_sin": 0.25}
    assert stored.outcome == "investigate"
    assert stored.similarity_score == pytest.approx(0.57)
    assert np.allclose(stored.embedding, rows[7]["embedding"], atol=1e-6)
    assert stored.source_row == (8 if fmt == "parquet" else 9 if fmt.startswith("csv") else 8)


def test_rule_breaking_rows_are_quarantined_with_line_raw_text_and_every_reason(s3, bucket):
    rows = [
        contract_row(0),
        contract_row(1, amount="-3.00", currency="XYZ"),
        contract_row(2),
        contract_row(3, embedding=[0.5] * 12),
        contract_row(4, transaction_id=..., similarity_score=1.7),
    ]
    put_file(s3, bucket, "flagged/bad.csv", encode_rows(rows, "csv"))

    [run] = scan_and_ingest(bucket)

    assert run.status == IngestRun.Status.SUCCEEDED
    assert (run.rows_read, run.rows_loaded, run.rows_quarantined) == (5, 2, 3)
    quarantined = list(QuarantinedRow.objects.filter(ingest_run=run).order_by("row_number"))
    assert [row.row_number for row in quarantined] == [3, 5, 6]  # line numbers; header is line 1
    assert quarantined[0].reasons == [
        "amount is negative: -3.00",
        "currency is not an ISO 4217 currency code: 'XYZ'",
    ]
    assert quarantined[0].raw_text.startswith("tx_00000001,acc_00001,")
    assert quarantined[0].transaction_id == "tx_00000001"
    assert quarantined[1].reasons == ["embedding has 12 values, expected 384"]
    assert quarantined[2].reasons == [
        "transaction_id is required",
        "similarity_score must be between 0 and 1, got '1.7'",
    ]
    assert sorted(Transaction.objects.values_list("transaction_id", flat=True)) == [
        "tx_00000000", "tx_00000002",
    ]  # fmt: skip


def test_malformed_lines_in_csv_and_jsonl_are_quarantined_not_fatal(s3, bucket):
    good = encode_rows([contract_row(0)], "jsonl").decode()
    jsonl = (
        good + "{not json\n" + "[1, 2]\n" + "\n" + encode_rows([contract_row(1)], "jsonl").decode()
    )
    put_file(s3, bucket, "flagged/a.jsonl", jsonl.encode())
    csv_text = encode_rows([contract_row(2)], "csv") + b"only,three,fields\n" + b"\xff\xfe broken\n"
    put_file(s3, bucket, "flagged/b.csv", csv_text)

    runs = {run.key: run for run in scan_and_ingest(bucket)}

    jsonl_run, csv_run = runs["flagged/a.jsonl"], runs["flagged/b.csv"]
    assert (jsonl_run.rows_read, jsonl_run.rows_loaded, jsonl_run.rows_quarantined) == (4, 2, 2)
    reasons = dict(
        QuarantinedRow.objects.filter(ingest_run=jsonl_run).values_list("row_number", "reasons")
    )
    assert reasons[2][0].startswith("not valid JSON")
    assert reasons[3] == ["not a JSON object but a list"]
    assert (csv_run.rows_read, csv_run.rows_loaded, csv_run.rows_quarantined) == (3, 1, 2)
    csv_reasons = dict(
        QuarantinedRow.objects.filter(ingest_run=csv_run).values_list("row_number", "reasons")
    )
    assert csv_reasons[3] == ["has 3 fields, the header has 16"]
    assert "not valid UTF-8 text" in csv_reasons[4]


@pytest.mark.parametrize(
    ("key", "body", "message"),
    [
        ("flagged/x.csv.gz", b"transaction_id,account_id\n1,2\n", "not gzip"),
        ("flagged/x.jsonl.gz", b"{}", "not gzip"),
        ("flagged/x.csv", b"tx_1,acc_1,2026-11-28T10:00:00+00:00,1.00,EUR\n", "no header row"),
        ("flagged/x.csv", b"", "the file is empty"),
        (
            "flagged/x.csv",
            b"transaction_id,account_id,occurred_at,currency\n",
            "missing required column(s): amount, similarity_score, model_version",
        ),
        ("flagged/x.xlsx", b"PK\x03\x04", "unknown format"),
        ("flagged/x.parquet", b"transaction_id\n", "not a Parquet file"),
    ],
)
def test_an_unreadable_file_fails_its_run_with_one_message_and_loads_nothing(
    s3, bucket, key, body, message
):
    put_file(s3, bucket, key, body)

    [run] = scan_and_ingest(bucket)

    assert run.status == IngestRun.Status.FAILED
    assert message in run.error
    assert "nothing was loaded" in run.error
    assert (run.rows_read, run.rows_loaded) == (0, 0)
    assert Transaction.objects.count() == 0
    assert QuarantinedRow.objects.count() == 0


def test_parquet_missing_required_columns_fails(s3, bucket):
    table = pa.table(
        {"transaction_id": ["a", "b"], "account_id": ["x", "y"], "amount": ["1.00", "2.00"]}
    )
    sink = io.BytesIO()
    pq.write_table(table, sink)
    put_file(s3, bucket, "flagged/x.parquet", sink.getvalue())

    [run] = scan_and_ingest(bucket)

    assert run.status == IngestRun.Status.FAILED
    assert run.error.startswith(
        "missing required column(s): occurred_at, currency, similarity_score, model_version"
    )
    assert Transaction.objects.count() == 0


def test_a_truncated_gzip_keeps_rows_read_before_the_break_and_fails(s3, bucket):
    whole = encode_rows([contract_row(i) for i in range(3000)], "csv.gz")
    put_file(s3, bucket, "flagged/cut.csv.gz", whole[: len(whole) * 2 // 3])

    [run] = scan_and_ingest(bucket)

    assert run.status == IngestRun.Status.FAILED
    assert "corrupt or truncated" in run.error
    assert (
        run.rows_read > 0
        and f"The {run.rows_read} rows read before the break were kept" in run.error
    )
    assert Transaction.objects.count() == run.rows_loaded
    assert_books_balance(run)


def test_the_same_object_is_ingested_once(s3, bucket):
    put_file(
        s3, bucket, "flagged/a.jsonl", encode_rows([contract_row(i) for i in range(10)], "jsonl")
    )
    [run] = scan_and_ingest(bucket)

    assert ingest_services.inbox_scan(bucket=bucket) == []
    again = ingest_services.ingest_run_execute(run_id=run.pk)

    assert again.rows_read == 10 and again.attempts == 1
    assert IngestRun.objects.count() == 1
    assert Transaction.objects.count() == 10


def test_a_new_version_of_a_key_is_a_new_run_whose_known_ids_are_duplicates(s3, bucket):
    put_file(s3, bucket, "flagged/a.csv", encode_rows([contract_row(i) for i in range(10)], "csv"))
    scan_and_ingest(bucket)
    put_file(
        s3, bucket, "flagged/a.csv", encode_rows([contract_row(i) for i in range(5, 15)], "csv")
    )
    # The same key does not sort after the inbox cursor: the full rescan finds its new version.
    assert ingest_services.inbox_scan(bucket=bucket) == []

    [second] = [
        ingest_services.ingest_run_execute(run_id=run_id)
        for run_id in ingest_services.inbox_scan(bucket=bucket, full=True)
    ]

    assert (second.rows_read, second.rows_loaded, second.rows_duplicate) == (10, 5, 5)
    assert Transaction.objects.count() == 15


def test_duplicate_ids_across_and_within_files_are_counted_not_loaded_twice(s3, bucket):
    first = [contract_row(i) for i in range(20)]
    second = [contract_row(i) for i in range(17, 30)] + [contract_row(25, amount="99.00")]
    put_file(s3, bucket, "flagged/1.parquet", encode_rows(first, "parquet"))
    [run1] = scan_and_ingest(bucket)
    put_file(s3, bucket, "flagged/2.jsonl.gz", encode_rows(second, "jsonl.gz"))

    [run2] = scan_and_ingest(bucket)

    assert (run1.rows_loaded, run1.rows_duplicate) == (20, 0)
    assert (run2.rows_read, run2.rows_loaded, run2.rows_duplicate) == (14, 10, 4)
    assert Transaction.objects.count() == 30
    assert Transaction.objects.get(transaction_id="tx_00000025").amount == Decimal("37.50")
    for run in (run1, run2):
        assert_books_balance(run)


def test_the_database_refuses_a_run_whose_books_do_not_balance(s3, bucket):
    put_file(s3, bucket, "flagged/a.csv", encode_rows([contract_row(0)], "csv"))
    [run] = scan_and_ingest(bucket)

    with pytest.raises(IntegrityError), transaction.atomic():
        IngestRun.objects.filter(pk=run.pk).update(rows_read=5)


def test_transactions_join_the_accounts_open_case_and_priority_follows(s3, bucket):
    rows = [
        contract_row(
            1, account_id="acc_A", similarity_score=0.61, outcome="approve", amount="10.00"
        ),
        contract_row(
            2, account_id="acc_A", similarity_score=0.93, outcome="investigate", amount="990.00"
        ),
        contract_row(3, account_id="acc_B", similarity_score=0.70, outcome="block", amount="5.00"),
    ]
    put_file(s3, bucket, "flagged/a.csv", encode_rows(rows, "csv"))

    [run] = scan_and_ingest(bucket)

    assert run.cases_opened == 2
    case_a = Case.objects.get(account_id="acc_A")
    assert case_a.transaction_count == 2
    assert case_a.amount_at_risk == Decimal("1000.00")
    assert case_a.max_similarity_score == pytest.approx(0.93)
    assert case_a.worst_outcome == "investigate"
    assert (
        case_a.priority
        == case_priority(
            max_similarity_score=0.93,
            worst_outcome="investigate",
            amount_at_risk=Decimal("1000.00"),
        )
        == 80
    )  # 55.8 + 15 + 9.0
    assert case_a.reference == f"FC-{case_a.pk:06d}"

    # A closed case stays closed; the account's next flag opens a new case.
    Case.objects.filter(pk=case_a.pk).update(status=CaseStatus.CLOSED)
    put_file(s3, bucket, "flagged/b.csv", encode_rows([contract_row(4, account_id="acc_A")], "csv"))
    [run2] = scan_and_ingest(bucket)

    assert run2.cases_opened == 1
    assert Case.objects.filter(account_id="acc_A").count() == 2
    assert Case.objects.get(account_id="acc_A", status=CaseStatus.OPEN).transaction_count == 1


def test_later_files_fold_into_the_open_case_as_a_full_recompute_would(s3, bucket):
    first = [
        contract_row(1, account_id="acc_F", similarity_score=0.80, outcome="block", amount="7.50"),
        contract_row(2, account_id="acc_G", similarity_score=0.20, outcome="", amount="1.00"),
    ]
    put_file(s3, bucket, "flagged/first.csv", encode_rows(first, "csv"))
    scan_and_ingest(bucket)
    Case.objects.filter(account_id="acc_F").update(neighbour_fraud_score=0.5)
    later = [  # a higher score but a milder outcome; a first outcome for acc_G
        contract_row(
            3, account_id="acc_F", similarity_score=0.95, outcome="approve", amount="2.50"
        ),
        contract_row(4, account_id="acc_F", similarity_score=0.10, outcome="", amount="90.00"),
        contract_row(
            5, account_id="acc_G", similarity_score=0.30, outcome="investigate", amount="3"
        ),
    ]
    put_file(s3, bucket, "flagged/later.csv", encode_rows(later, "csv"))
    scan_and_ingest(bucket)

    fields = ["max_similarity_score", "worst_outcome", "amount_at_risk", "transaction_count", "priority"]  # fmt: skip
    folded = {case.account_id: case for case in Case.objects.all()}
    case_f = folded["acc_F"]
    assert (case_f.transaction_count, case_f.amount_at_risk) == (3, Decimal("100.00"))
    assert (case_f.max_similarity_score, case_f.worst_outcome) == (pytest.approx(0.95), "block")
    assert folded["acc_G"].worst_outcome == "investigate"
    assert case_f.priority == case_priority(
        max_similarity_score=0.95, worst_outcome="block", amount_at_risk=Decimal("100.00"),
        neighbour_fraud_score=0.5,
    )  # fmt: skip
    cases_refresh_priority(case_ids=[case.pk for case in folded.values()])
    for case in Case.objects.all():
        assert [getattr(case, name) for name in fields] == [
            getattr(folded[case.account_id], name) for name in fields
        ], case.account_id


def test_priority_weighs_score_outcome_and_amount():
    assert (
        case_priority(
            max_similarity_score=1.0, worst_outcome="block", amount_at_risk=Decimal(100000)
        )
        == 100
    )
    assert (
        case_priority(max_similarity_score=0.0, worst_outcome="approve", amount_at_risk=Decimal(0))
        == 0
    )
    assert (
        case_priority(max_similarity_score=0.5, worst_outcome="", amount_at_risk=Decimal(0)) == 38
    )
    high_amount = case_priority(
        max_similarity_score=0.8, worst_outcome="approve", amount_at_risk=Decimal(50000)
    )
    low_amount = case_priority(
        max_similarity_score=0.8, worst_outcome="approve", amount_at_risk=Decimal(50)
    )
    assert high_amount > low_amount


def test_ingest_command_takes_a_prefix_and_skips_what_it_has(s3, bucket, capsys):
    put_file(
        s3, bucket, "flagged/d1/a.csv", encode_rows([contract_row(i) for i in range(4)], "csv")
    )
    put_file(
        s3,
        bucket,
        "flagged/d1/b.jsonl",
        encode_rows([contract_row(i) for i in range(4, 6)], "jsonl"),
    )
    put_file(s3, bucket, "flagged/d2/c.csv", encode_rows([contract_row(9)], "csv"))

    call_command("ingest", f"s3://{bucket}/flagged/d1/", "--no-progress")
    first = capsys.readouterr().out
    call_command("ingest", f"s3://{bucket}/flagged/d1/", "--no-progress")
    second = capsys.readouterr().out

    assert (
        "succeeded s3://" in first and "read 4, loaded 4" in first and "read 2, loaded 2" in first
    )
    assert second.count("skip s3://") == 2
    assert Transaction.objects.count() == 6


def test_ingest_command_reports_bad_input_clearly(s3, bucket):
    with pytest.raises(CommandError, match="is not an S3 URI"):
        call_command("ingest", "/tmp/file.csv")
    with pytest.raises(CommandError, match="No objects under"):
        call_command("ingest", f"s3://{bucket}/nothing-here/")
    put_file(s3, bucket, "flagged/x.csv.gz", b"plain text")
    with pytest.raises(CommandError, match="1 of 1 object"):
        call_command("ingest", f"s3://{bucket}/flagged/", "--no-progress")


def test_jsonl_amount_keeps_its_decimals(s3, bucket):
    line = json.dumps(
        {
            **{
                k: v
                for k, v in contract_row(0).items()
                if k not in ("embedding", "occurred_at", "amount")
            },
            "occurred_at": "2026-11-28T10:00:00+01:00",
        }
    )
    line = line[:-1] + ', "amount": 12.10}'
    put_file(s3, bucket, "flagged/a.jsonl.gz", gzip.compress(line.encode() + b"\n"))

    [run] = scan_and_ingest(bucket)

    assert run.rows_loaded == 1, QuarantinedRow.objects.values_list("reasons", flat=True)
    stored = Transaction.objects.get()
    assert stored.amount == Decimal("12.10")
    assert stored.occurred_at.isoformat() == "2026-11-28T09:00:00+00:00"


def test_a_failed_run_is_re_run_by_an_admin_and_resumes(
    s3, bucket, django_capture_on_commit_callbacks
):
    from cases.errors import ActionNotPermitted
    from cases.models import AuditAction, AuditEvent
    from cases.tests.workflow_fixtures import make_user

    body = encode_rows([contract_row(i) for i in range(5)], "csv")
    put_file(s3, bucket, "flagged/a.csv", body)
    [s3_object] = ingest_services.list_objects(bucket=bucket, prefix="flagged/")
    run, _ = ingest_services.ingest_run_register(s3_object=s3_object, triggered_by="test")
    s3.delete_object(Bucket=bucket, Key="flagged/a.csv")
    failed = ingest_services.ingest_run_execute(run_id=run.pk)
    assert failed.status == IngestRun.Status.FAILED and "no longer exists" in failed.error

    with pytest.raises(ActionNotPermitted):
        ingest_services.ingest_run_rerun(actor=make_user("ana", "analyst"), run_id=run.pk)
    put_file(s3, bucket, "flagged/a.csv", body)  # the operator restores the same object
    with django_capture_on_commit_callbacks() as callbacks:
        queued = ingest_services.ingest_run_rerun(actor=make_user("adm", "admin"), run_id=run.pk)
    done = ingest_services.ingest_run_execute(run_id=run.pk)

    assert queued.status == IngestRun.Status.QUEUED and len(callbacks) == 1
    assert (done.status, done.rows_loaded, done.attempts) == (IngestRun.Status.SUCCEEDED, 5, 2)
    assert AuditEvent.objects.filter(action=AuditAction.INGEST_RERUN).count() == 1
    assert AuditEvent.objects.filter(action=AuditAction.PERMISSION_DENIED).count() == 1


def test_cases_opened_by_ingest_are_routed_and_audited_in_one_intact_chain(s3, bucket):
    from cases.audit.selectors import audit_chain_verify
    from cases.audit.trail import system_actor
    from cases.models import AuditAction, AuditEvent
    from cases.tests.workflow_fixtures import make_user
    from cases.workflow.services.setup import workflow_defaults_ensure

    workflow_defaults_ensure(actor=make_user("adm", "admin"))
    rows = [contract_row(i, outcome="block" if i % 2 else "approve") for i in range(120)]
    put_file(s3, bucket, "flagged/a.csv", encode_rows(rows, "csv"))

    [run] = scan_and_ingest(bucket)

    opened = AuditEvent.objects.filter(action=AuditAction.CASE_OPENED)
    assert opened.count() == run.cases_opened == 50
    assert set(opened.values_list("actor_id", flat=True)) == {system_actor().pk}
    assert {c.queue.name for c in Case.objects.select_related("queue")} == {"High risk", "General"}
    assert all(
        c.due_at == c.opened_at + timezone.timedelta(hours=c.queue.sla_hours)
        for c in Case.objects.select_related("queue")
    )
    assert audit_chain_verify().ok


def show_random_page_cost() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SHOW random_page_cost")
        return cursor.fetchone()[0]


@pytest.mark.django_db(transaction=True)
def test_chunks_price_random_reads_as_cached_for_their_own_transaction_only(settings):
    server_default = show_random_page_cost()
    many = ingest_chunks.FEW_ROWS_FOR_PLANNING
    with transaction.atomic():
        ingest_chunks._plan_for_lookups_by_key(many)
        in_chunk = show_random_page_cost()
    with transaction.atomic():
        ingest_chunks._plan_for_lookups_by_key(many - 1)  # an API flag: a few keys, no trip
        few_rows = show_random_page_cost()
    settings.FRAUDCASE_INGEST_RANDOM_PAGE_COST = None
    with transaction.atomic():
        ingest_chunks._plan_for_lookups_by_key(many)
        switched_off = show_random_page_cost()

    assert in_chunk == "1.1"
    assert few_rows == server_default
    assert show_random_page_cost() == server_default  # nothing leaks to later work
    assert switched_off == server_default
