"""Big and hostile inputs: memory bounded whatever the file, Parquet read by ranges, resumed
runs that do not start again from byte 0, disk full, and truncated gzip. Real embedded S3
and PostgreSQL; nothing of ours is mocked."""

from __future__ import annotations

import zlib

import pytest

from cases.fileformats import encode_rows
from cases.ingest import services as ingest_services
from cases.models import IngestRun, QuarantinedRow, Transaction
from conftest import contract_row, put_file

pytestmark = pytest.mark.django_db


def scan_and_ingest(bucket: str) -> list[IngestRun]:
    run_ids = ingest_services.inbox_scan(bucket=bucket)
    return [ingest_services.ingest_run_execute(run_id=run_id) for run_id in run_ids]


def small_row(index: int) -> dict:
    """A valid row without embedding or features: a few hundred bytes of text."""
    return contract_row(index, embedding=..., features=...)


def books(run: IngestRun) -> tuple[int, int, int, int]:
    return (run.rows_read, run.rows_loaded, run.rows_duplicate, run.rows_quarantined)


# --- truncated gzip --------------------------------------------------------------------------


def test_a_gzip_truncated_inside_its_first_chunk_keeps_the_rows_read_before_the_break(
    s3, bucket, settings
):
    settings.FRAUDCASE_INGEST_CHUNK_ROWS = 1000  # more than the whole file holds
    whole = encode_rows([small_row(i) for i in range(200)], "csv.gz")
    cut = whole[:600]
    put_file(s3, bucket, "flagged/cut.csv.gz", cut)
    # The complete lines a decompressor gets out of the cut stream, header left out.
    complete_rows = zlib.decompressobj(wbits=31).decompress(cut).count(b"\n") - 1
    assert 0 < complete_rows < 200

    [run] = scan_and_ingest(bucket)

    assert run.status == IngestRun.Status.FAILED
    assert "the compressed stream is corrupt or truncated" in run.error
    assert f"The {complete_rows} rows read before the break were kept" in run.error
    assert books(run) == (complete_rows, complete_rows, 0, 0)
    assert Transaction.objects.filter(ingest_run=run).count() == complete_rows
    assert QuarantinedRow.objects.count() == 0
