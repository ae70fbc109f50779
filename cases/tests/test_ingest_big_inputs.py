"""Big and hostile inputs: memory bounded whatever the file, Parquet read by ranges, resumed
runs that do not start again from byte 0, disk full, and truncated gzip. Real embedded S3
and PostgreSQL; nothing of ours is mocked."""

from __future__ import annotations

import gzip
import io
import tracemalloc
import zlib

import pyarrow.parquet as pq
import pytest

from cases.fileformats import encode_rows
from cases.ingest import services as ingest_services
from cases.ingest.chunks import prepared_chunks
from cases.ingest.readers import CountingReader, read_records
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


# --- memory bounded whatever the file --------------------------------------------------------


def ingest_page(client_user=None) -> str:
    from django.urls import reverse

    from cases.tests.workflow_fixtures import make_user
    from conftest import client_for

    viewer = client_user or make_user("ana", "analyst")
    return client_for(viewer).get(reverse("ingest-runs")).content.decode()


def test_a_line_over_the_limit_fails_the_run_without_being_read_whole(s3, bucket, settings):
    settings.FRAUDCASE_INGEST_MAX_LINE_BYTES = 64 << 10
    before = b"".join(encode_rows([small_row(i)], "jsonl") for i in range(3))
    huge_line = b'{"transaction_id": "tx_huge", "merchant": "' + b"x" * (40 << 20) + b'"}\n'
    after = encode_rows([small_row(9)], "jsonl")
    put_file(s3, bucket, "flagged/one-line.jsonl", before + huge_line + after)

    tracemalloc.start()
    try:
        [run] = scan_and_ingest(bucket)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert run.status == IngestRun.Status.FAILED
    assert run.error.startswith(
        "line 4 is longer than 65,536 bytes (FRAUDCASE_INGEST_MAX_LINE_BYTES)"
    )
    assert "The 3 rows read before the break were kept" in run.error
    assert books(run) == (3, 3, 0, 0)
    assert peak < 16 << 20, f"the 40 MiB line was held: peak {peak:,} bytes"
    assert "line 4 is longer than 65,536 bytes" in ingest_page()


def test_a_gzip_bomb_is_refused_by_its_ratio_after_the_rows_before_it(s3, bucket):
    rows = b"".join(encode_rows([small_row(i)], "jsonl") for i in range(5))
    blank = (b" " * 1023 + b"\n") * (100 << 10)  # 100 MiB of blank lines: about 100 KiB gzipped
    bomb = gzip.compress(rows + blank, compresslevel=9, mtime=0)
    assert len(rows + blank) / len(bomb) > 500
    put_file(s3, bucket, "flagged/bomb.jsonl.gz", bomb)

    [run] = scan_and_ingest(bucket)

    assert run.status == IngestRun.Status.FAILED
    assert "(FRAUDCASE_INGEST_MAX_GZIP_RATIO): refused as a gzip bomb" in run.error
    assert "The 5 rows read before the break were kept" in run.error
    assert books(run) == (5, 5, 0, 0)


def test_a_gzip_stream_inflating_past_the_size_cap_is_refused(s3, bucket, settings):
    settings.FRAUDCASE_INGEST_MAX_DECOMPRESSED_BYTES = 100_000
    put_file(
        s3, bucket, "flagged/big.csv.gz", encode_rows([small_row(i) for i in range(1000)], "csv.gz")
    )

    [run] = scan_and_ingest(bucket)

    assert run.status == IngestRun.Status.FAILED
    assert run.error.startswith(
        "the gzip stream inflates past 100,000 bytes (FRAUDCASE_INGEST_MAX_DECOMPRESSED_BYTES)"
    )
    assert 0 < run.rows_read < 1000 and run.rows_read == run.rows_loaded


def parquet_bytes(*row_groups: list[dict]) -> bytes:
    """A Parquet file with one row group per list of rows (the contract's own column types)."""
    tables = [pq.read_table(io.BytesIO(encode_rows(rows, "parquet"))) for rows in row_groups]
    sink = io.BytesIO()
    with pq.ParquetWriter(sink, tables[0].schema) as writer:
        for table in tables:
            writer.write_table(table, row_group_size=len(table))
    return sink.getvalue()


def test_a_parquet_row_group_over_the_cap_refuses_the_file_before_any_row(s3, bucket, settings):
    settings.FRAUDCASE_INGEST_MAX_ROW_GROUP_BYTES = 200_000
    body = parquet_bytes(
        [contract_row(i) for i in range(10)], [contract_row(i) for i in range(10, 210)]
    )
    groups = pq.ParquetFile(io.BytesIO(body)).metadata
    assert groups.row_group(0).total_byte_size < 200_000 < groups.row_group(1).total_byte_size
    put_file(s3, bucket, "flagged/wide.parquet", body)

    [run] = scan_and_ingest(bucket)

    assert run.status == IngestRun.Status.FAILED
    assert run.error.startswith(
        f"row group 2 of 2 holds {groups.row_group(1).total_byte_size:,} bytes uncompressed "
        "(200 rows), more than 200,000 (FRAUDCASE_INGEST_MAX_ROW_GROUP_BYTES)"
    )
    assert "nothing was loaded" in run.error
    assert books(run) == (0, 0, 0, 0)
    assert "row group 2 of 2 holds" in ingest_page()


def test_a_chunk_holds_at_most_the_text_cap_of_long_rows(s3, bucket, settings):
    settings.FRAUDCASE_INGEST_CHUNK_ROWS = 1000
    rows = [small_row(i) | {"merchant": "m" * 200} for i in range(10)]
    body = encode_rows(rows, "jsonl")
    line_length = len(body.splitlines()[0])
    settings.FRAUDCASE_INGEST_CHUNK_MAX_BYTES = 3 * line_length
    put_file(s3, bucket, "flagged/long.jsonl", body)
    [run_id] = ingest_services.inbox_scan(bucket=bucket)
    run = IngestRun.objects.get(pk=run_id)
    response = s3.get_object(Bucket=bucket, Key=run.key)
    source = CountingReader(response["Body"])

    chunks = list(prepared_chunks(run, read_records(source, "jsonl"), source))

    assert [len(chunk.records) for chunk in chunks] == [3, 3, 3, 1]
