"""Ingest through real Celery workers on the real broker, including a worker killed mid-file."""

import pytest

from cases.fileformats import encode_rows
from cases.models import IngestRun, QuarantinedRow, Transaction
from conftest import contract_row, put_file, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

ROWS = 24_000
BAD_EVERY = 1000  # one contract breaker every 1000 rows


def test_beat_scan_dispatches_to_a_worker_that_ingests(s3, bucket, celery_worker_factory):
    put_file(s3, bucket, "flagged/a.csv", encode_rows([contract_row(i) for i in range(30)], "csv"))
    put_file(
        s3,
        bucket,
        "flagged/b.parquet",
        encode_rows([contract_row(i) for i in range(30, 40)], "parquet"),
    )
    put_file(s3, bucket, "other/ignored.csv", encode_rows([contract_row(99)], "csv"))
    worker = celery_worker_factory(FRAUDCASE_INBOX_BUCKET=bucket)
    from cases.ingest.tasks import scan_inbox

    scan_inbox.delay()

    wait_until(
        lambda: IngestRun.objects.filter(status=IngestRun.Status.SUCCEEDED).count() == 2,
        timeout=60, message=lambda: f"two succeeded runs; worker log:\n{worker.log()[-3000:]}",
    )  # fmt: skip
    assert sorted(IngestRun.objects.values_list("key", flat=True)) == [
        "flagged/a.csv",
        "flagged/b.parquet",
    ]
    assert Transaction.objects.count() == 40


def test_a_worker_killed_mid_file_finishes_on_retry_with_nothing_lost_or_doubled(
    s3, bucket, celery_worker_factory
):
    rows = [
        contract_row(i, embedding=..., amount="-1.00")
        if i % BAD_EVERY == 0
        else contract_row(i, embedding=...)
        for i in range(ROWS)
    ]
    put_file(s3, bucket, "flagged/big.csv.gz", encode_rows(rows, "csv.gz"))
    # Small chunks and a short visibility timeout so the kill lands mid-file and the
    # unacknowledged task comes back quickly.
    worker_env = {
        "FRAUDCASE_INBOX_BUCKET": bucket,
        "FRAUDCASE_INGEST_CHUNK_ROWS": "200",
        "CELERY_VISIBILITY_TIMEOUT": "4",
        "CELERY_UNACKED_RESTORE_INTERVAL": "1",
    }
    first = celery_worker_factory(**worker_env)
    from cases.ingest.tasks import scan_inbox

    scan_inbox.delay()
    wait_until(
        lambda: IngestRun.objects.filter(rows_read__gte=2000).exists(),
        timeout=60, interval=0.02, message=lambda: f"the run to pass 2000 rows; log:\n{first.log()[-3000:]}",
    )  # fmt: skip
    first.kill()

    run = IngestRun.objects.get()
    assert run.status == IngestRun.Status.RUNNING
    assert 2000 <= run.rows_read < ROWS, "the kill must land mid-file"
    second = celery_worker_factory(**worker_env)
    wait_until(
        lambda: IngestRun.objects.filter(status=IngestRun.Status.SUCCEEDED).exists(),
        timeout=120, message=lambda: f"the retried run to succeed; log:\n{second.log()[-3000:]}",
    )  # fmt: skip

    run.refresh_from_db()
    expected_bad = ROWS // BAD_EVERY
    assert run.attempts == 2
    assert (run.rows_read, run.rows_loaded, run.rows_duplicate, run.rows_quarantined) == (
        ROWS, ROWS - expected_bad, 0, expected_bad,
    )  # fmt: skip
    assert Transaction.objects.count() == ROWS - expected_bad
    assert QuarantinedRow.objects.count() == expected_bad
    assert sorted(QuarantinedRow.objects.values_list("row_number", flat=True)) == [
        i + 2 for i in range(0, ROWS, BAD_EVERY)
    ]
