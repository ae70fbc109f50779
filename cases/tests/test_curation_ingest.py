"""Curation records through the ingest pipeline: real S3 server, real Postgres, a real worker."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cases.fileformats import encode_rows
from cases.ingest import services as ingest_services
from cases.ingest.curation import curation_commit_chunk, validate_curation_row
from cases.models import CurationRecord, IngestRun, IpEnrichment, QuarantinedRow, Transaction
from conftest import contract_row, put_file, wait_until, with_overrides

pytestmark = pytest.mark.django_db

HOSTILE_AGENT = '<script>alert("ua")</script> Mozilla/5.0'


def curation_row(index: int = 0, **overrides) -> dict:
    row = {
        "source_ip": f"89.160.20.{index % 200 + 1}",
        "transaction_id": f"tx_{index:08d}",
        "account_id": f"acc_{index % 50:05d}",
        "observed_at": (
            datetime(2026, 11, 1, tzinfo=UTC) + timedelta(minutes=index, milliseconds=250)
        ).isoformat(timespec="milliseconds"),
        "user_agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/132.0",
        "metadata": {"asn": 3301, "isp": "Skyline Broadband", "is_vpn": index % 2 == 0},
    }
    return with_overrides(row, overrides)


def scan_and_ingest(bucket: str) -> list[IngestRun]:
    run_ids = ingest_services.inbox_scan(bucket=bucket)
    return [ingest_services.ingest_run_execute(run_id=run_id) for run_id in run_ids]


def books(run: IngestRun) -> tuple[int, int, int, int]:
    assert run.rows_read == run.rows_loaded + run.rows_duplicate + run.rows_quarantined
    return run.rows_read, run.rows_loaded, run.rows_duplicate, run.rows_quarantined


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "jsonl.gz", "parquet"])
def test_curation_files_load_in_every_format_with_their_values(s3, bucket, fmt):
    rows = [curation_row(i) for i in range(30)]
    rows[4]["source_ip"] = "2001:67c:2e8:22:0:0:c100:68b"
    rows[5]["user_agent"] = HOSTILE_AGENT
    put_file(s3, bucket, f"curation/2026-11-01/ips.{fmt}", encode_rows(rows, fmt))

    [run] = scan_and_ingest(bucket)

    assert run.status == IngestRun.Status.SUCCEEDED, run.error
    assert run.kind == IngestRun.Kind.CURATION
    assert books(run) == (30, 30, 0, 0)
    assert Transaction.objects.count() == 0  # curation never creates transactions
    record = CurationRecord.objects.get(transaction_id="tx_00000004")
    assert record.source_ip == "2001:67c:2e8:22::c100:68b"
    assert record.account_id == "acc_00004"
    assert record.observed_at == datetime(2026, 11, 1, 0, 4, 0, 250000, tzinfo=UTC)
    assert record.metadata == {"asn": 3301, "isp": "Skyline Broadband", "is_vpn": True}
    assert (record.ingest_run_id, record.source_row) == (
        run.pk,
        5 if fmt == "parquet" else 6 if fmt == "csv" else 5,
    )
    assert CurationRecord.objects.get(transaction_id="tx_00000005").user_agent == HOSTILE_AGENT


def test_bad_ip_text_and_other_breaches_are_quarantined_with_reasons(s3, bucket):
    rows = [
        curation_row(0),
        curation_row(1, source_ip="999.12.1.1"),
        curation_row(2, source_ip="not-an-ip"),
        curation_row(3, source_ip=...),
        curation_row(4, source_ip="fe80::1%eth0", observed_at="yesterday"),
        curation_row(5, observed_at="2026-11-01T10:00:00"),
        curation_row(6, metadata="[1, 2]"),
        curation_row(7),
    ]
    put_file(s3, bucket, "curation/bad.jsonl", encode_rows(rows, "jsonl"))

    [run] = scan_and_ingest(bucket)

    assert run.status == IngestRun.Status.SUCCEEDED, run.error
    assert books(run) == (8, 2, 0, 6)
    reasons = {
        row.row_number: row.reasons
        for row in QuarantinedRow.objects.filter(ingest_run=run).order_by("row_number")
    }
    assert reasons == {
        2: ["source_ip is not an IPv4 or IPv6 address: '999.12.1.1'"],
        3: ["source_ip is not an IPv4 or IPv6 address: 'not-an-ip'"],
        4: ["source_ip is required"],
        5: [
            "source_ip is not an IPv4 or IPv6 address: 'fe80::1%eth0'",
            "observed_at is not an ISO 8601 date-time: 'yesterday'",
        ],
        6: [
            "observed_at has no UTC offset: '2026-11-01T10:00:00' "
            "(write it like 2026-11-28T14:03:00+00:00)"
        ],
        7: ["metadata must be a JSON object, got list"],
    }
    quarantined = QuarantinedRow.objects.get(ingest_run=run, row_number=2)
    assert quarantined.transaction_id == "tx_00000001"
    assert '"999.12.1.1"' in quarantined.raw_text
    assert sorted(CurationRecord.objects.values_list("transaction_id", flat=True)) == [
        "tx_00000000",
        "tx_00000007",
    ]


def test_a_csv_without_the_source_ip_column_fails_the_run_with_one_message(s3, bucket):
    body = b"transaction_id,account_id,user_agent\ntx_1,acc_1,curl/8\n"
    put_file(s3, bucket, "curation/no-ip.csv", body)

    [run] = scan_and_ingest(bucket)

    assert run.status == IngestRun.Status.FAILED
    assert run.error == "missing required column(s): source_ip; nothing was loaded"
    assert CurationRecord.objects.count() == 0


def test_redelivery_and_repeated_rows_are_duplicates_never_second_records(s3, bucket):
    rows = [curation_row(i) for i in range(10)]
    put_file(s3, bucket, "curation/day1/ips.jsonl.gz", encode_rows(rows, "jsonl.gz"))
    [first] = scan_and_ingest(bucket)
    assert books(first) == (10, 10, 0, 0)

    # the same run again: finished runs are left as they are
    again = ingest_services.ingest_run_execute(run_id=first.pk)
    assert books(again) == (10, 10, 0, 0)
    assert ingest_services.inbox_scan(bucket=bucket) == []

    # the same records delivered again under another (later) key, plus one repeated in the file
    redelivered = [*rows[:5], curation_row(42), curation_row(42)]
    put_file(s3, bucket, "curation/day2/ips-again.csv", encode_rows(redelivered, "csv"))
    [second] = scan_and_ingest(bucket)

    assert second.status == IngestRun.Status.SUCCEEDED, second.error
    assert books(second) == (7, 1, 6, 0)
    assert CurationRecord.objects.count() == 11
    assert CurationRecord.objects.filter(transaction_id="tx_00000042").count() == 1


def test_an_interrupted_curation_run_resumes_after_its_checkpoint(s3, bucket, settings):
    settings.FRAUDCASE_INGEST_CHUNK_ROWS = 4
    rows = [curation_row(i) for i in range(10)]
    put_file(s3, bucket, "curation/resume.jsonl", encode_rows(rows, "jsonl"))
    [run_id] = ingest_services.inbox_scan(bucket=bucket)
    # as if a worker died after committing the first chunk
    run = IngestRun.objects.get(pk=run_id)
    curation_commit_chunk(run, _records(rows[:4]), bytes_read=100)
    IngestRun.objects.filter(pk=run_id).update(status=IngestRun.Status.RUNNING)

    run = ingest_services.ingest_run_execute(run_id=run_id)

    assert run.status == IngestRun.Status.SUCCEEDED
    assert books(run) == (10, 10, 0, 0)
    assert CurationRecord.objects.count() == 10


def _records(rows):
    from cases.ingest.readers import SourceRecord

    return [
        SourceRecord(row_number=i + 1, values=dict(row), raw=str(row)) for i, row in enumerate(rows)
    ]


def test_the_scan_takes_both_prefixes_and_each_run_knows_its_kind(s3, bucket):
    put_file(
        s3, bucket, "flagged/part.csv", encode_rows([contract_row(i) for i in range(5)], "csv")
    )
    put_file(
        s3, bucket, "curation/ips.jsonl", encode_rows([curation_row(i) for i in range(5)], "jsonl")
    )
    put_file(s3, bucket, "elsewhere/ips.jsonl", encode_rows([curation_row(9)], "jsonl"))

    runs = scan_and_ingest(bucket)

    kinds = {run.key: (run.kind, run.status, run.rows_loaded) for run in runs}
    assert kinds == {
        "flagged/part.csv": ("flagged", "succeeded", 5),
        "curation/ips.jsonl": ("curation", "succeeded", 5),
    }
    assert Transaction.objects.count() == 5
    assert CurationRecord.objects.count() == 5


def test_validation_folds_extra_columns_into_metadata():
    clean, errors = validate_curation_row(
        {"source_ip": " 10.0.0.1 ", "proxy_score": 0.4, "metadata": '{"isp": "Helix"}'}
    )
    assert errors == []
    assert clean.source_ip == "10.0.0.1"
    assert clean.metadata == {"isp": "Helix", "proxy_score": 0.4}
    assert (clean.transaction_id, clean.account_id, clean.observed_at) == ("", "", None)


@pytest.mark.django_db(transaction=True)
def test_a_worker_ingests_curation_then_places_its_ips(s3, bucket, celery_worker_factory):
    rows = [curation_row(0), curation_row(1, source_ip="10.20.30.40")]
    put_file(s3, bucket, "curation/ips.jsonl", encode_rows(rows, "jsonl"))
    worker = celery_worker_factory(FRAUDCASE_INBOX_BUCKET=bucket)
    from cases.ingest.tasks import scan_inbox

    scan_inbox.delay()

    wait_until(
        lambda: IpEnrichment.objects.count() == 2,
        timeout=60, message=lambda: f"two placed IPs; worker log:\n{worker.log()[-3000:]}",
    )  # fmt: skip
    assert CurationRecord.objects.count() == 2
    placed = dict(IpEnrichment.objects.values_list("ip", "city"))
    assert placed == {"89.160.20.1": "Stockholm", "10.20.30.40": ""}
    assert IpEnrichment.objects.get(ip="10.20.30.40").kind == "private"


def test_the_demo_bundle_curation_file_loads_whole_next_to_its_flagged_files(s3, bucket):
    from cases.demo.bundle import demo_files
    from cases.demo.generator import generate_curation_records, generate_flagged_transactions

    flagged = generate_flagged_transactions(
        seed=5, accounts=60, merchants=40, transactions=400, end=datetime(2026, 11, 28, tzinfo=UTC)
    )
    curation = generate_curation_records(flagged, seed=5)
    for key, body in demo_files(flagged, curation, prefix_date="2026-11-28"):
        if key.startswith("curation/"):
            put_file(s3, bucket, key, body)

    [run] = scan_and_ingest(bucket)

    assert run.key == "curation/2026-11-28/ips-0001.jsonl.gz"
    assert run.status == IngestRun.Status.SUCCEEDED, run.error
    assert books(run) == (len(curation), len(curation), 0, 0)
    record = CurationRecord.objects.get(
        transaction_id=curation[0]["transaction_id"], source_ip=curation[0]["source_ip"]
    )
    assert record.user_agent == curation[0]["user_agent"]
    assert record.metadata == curation[0]["metadata"]
