"""Big and hostile inputs: memory bounded whatever the file, Parquet read by ranges, resumed
runs that do not start again from byte 0, disk full, and truncated gzip. Real embedded S3
and PostgreSQL; nothing of ours is mocked."""

from __future__ import annotations

import bisect
import gzip
import io
import tracemalloc
import zlib

import boto3
import pyarrow.parquet as pq
import pytest

from cases.fileformats import encode_rows
from cases.ingest import lease
from cases.ingest import services as ingest_services
from cases.ingest.chunks import commit_chunk, prepared_chunks
from cases.ingest.readers import read_records
from cases.ingest.s3_object import S3ObjectFile
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
    source = S3ObjectFile(s3, bucket=bucket, key=run.key, etag=run.etag, size=run.size_bytes)

    chunks = list(prepared_chunks(run, read_records(source, "jsonl"), source))

    assert [len(chunk.records) for chunk in chunks] == [3, 3, 3, 1]


# --- Parquet read by ranges ------------------------------------------------------------------


class S3Requests:
    """The GetObject requests this process sends to S3 (a botocore event hook on the default
    session, which every client of ours comes from): their Range headers."""

    def __init__(self) -> None:
        self.ranges: list[str | None] = []

    def __enter__(self) -> S3Requests:
        boto3._get_default_session().events.register(
            "before-send.s3.GetObject", self._record, unique_id="test-ranges"
        )
        return self

    def __exit__(self, *exc_info) -> None:
        boto3._get_default_session().events.unregister(
            "before-send.s3.GetObject", unique_id="test-ranges"
        )

    def _record(self, request, **kwargs) -> None:
        self.ranges.append(request.headers.get("Range"))

    def spans(self) -> list[tuple[int, int]]:
        """(first, last) byte of each ranged GET; an open range ends at None."""
        spans = []
        for header in self.ranges:
            first, _, last = header.decode().removeprefix("bytes=").partition("-")
            spans.append((int(first), int(last) if last else None))
        return spans


def test_parquet_is_read_from_s3_by_ranges_row_group_by_row_group(s3, bucket, settings):
    block = settings.FRAUDCASE_INGEST_S3_RANGE_BYTES = 256 << 10
    body = parquet_bytes(
        *[[contract_row(i) for i in range(g * 400, (g + 1) * 400)] for g in range(5)]
    )
    put_file(s3, bucket, "flagged/ranged.parquet", body)
    metadata = pq.ParquetFile(io.BytesIO(body)).metadata
    assert metadata.num_row_groups == 5 and len(body) > 8 * block

    with S3Requests() as requests:
        [run] = scan_and_ingest(bucket)

    assert run.status == IngestRun.Status.SUCCEEDED, run.error
    assert books(run) == (2000, 2000, 0, 0)
    assert run.bytes_read == run.size_bytes == len(body)
    # Every GET is a closed range of one block: the object is never taken whole (no spool to
    # disk), and each byte is fetched about once (the footer's block may come twice).
    assert None not in requests.ranges
    spans = requests.spans()
    assert all(first % block == 0 and last - first + 1 <= block for first, last in spans)
    assert sum(last - first + 1 for first, last in spans) <= len(body) + 2 * block
    assert spans[0][1] == len(body) - 1  # the footer first
    # Row group by row group: each group's first GET comes after the one before's.
    starts = [group_start(metadata.row_group(g)) for g in range(5)]
    groups = [bisect.bisect_right(starts, last) - 1 for _, last in spans[1:]]
    assert [groups.index(g) for g in range(5)] == sorted(groups.index(g) for g in range(5))


def group_start(row_group) -> int:
    """The first byte of a row group: its first column chunk's first page."""
    column = row_group.column(0)
    if column.has_dictionary_page:
        return min(column.dictionary_page_offset, column.data_page_offset)
    return column.data_page_offset


# --- a resumed run reads on from where it stopped --------------------------------------------


def interrupted_after(s3, run_id: int, chunks: int) -> IngestRun:
    """Commit the first chunks of a run as its worker does, then lose the worker (its lease
    freed): the state a crash after those commits leaves."""
    claim = lease.run_claim(run_id)
    run = claim.run
    source = S3ObjectFile(s3, bucket=run.bucket, key=run.key, etag=run.etag, size=run.size_bytes)
    pieces = prepared_chunks(run, read_records(source, run.file_format), source)
    for _ in range(chunks):
        commit_chunk(run, next(pieces), claimed_by=claim.token)
    pieces.close()
    lease.run_release(run_id, claim.token)
    return IngestRun.objects.get(pk=run_id)


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_a_resumed_text_run_reads_on_from_the_byte_after_its_last_committed_row(
    s3, bucket, settings, fmt
):
    settings.FRAUDCASE_INGEST_CHUNK_ROWS = 10
    settings.FRAUDCASE_INGEST_MAX_LINE_BYTES = 1024
    body = encode_rows([small_row(i) for i in range(35)], fmt)
    put_file(s3, bucket, f"flagged/resume.{fmt}", body)
    [run_id] = ingest_services.inbox_scan(bucket=bucket)
    stopped = interrupted_after(s3, run_id, chunks=2)
    header_lines = 1 if fmt == "csv" else 0
    lines = body.splitlines(keepends=True)
    offset = sum(len(line) for line in lines[: header_lines + 20])
    assert (stopped.rows_read, stopped.resume_offset) == (20, offset)
    assert stopped.resume_line == header_lines + 20

    with S3Requests() as requests:
        run = ingest_services.ingest_run_execute(run_id=run_id)

    assert run.status == IngestRun.Status.SUCCEEDED, run.error
    assert books(run) == (35, 35, 0, 0)  # nothing read twice
    header = ["bytes=0-1024"] if fmt == "csv" else []
    assert [r.decode() for r in requests.ranges] == [*header, f"bytes={offset}-"]
    assert run.bytes_read == len(body)
    stored = Transaction.objects.get(transaction_id="tx_00000020")
    assert stored.source_row == header_lines + 21  # line numbers go on where they stopped


def test_a_resumed_parquet_run_starts_at_the_row_group_holding_its_first_unread_row(
    s3, bucket, settings
):
    settings.FRAUDCASE_INGEST_CHUNK_ROWS = 500
    block = settings.FRAUDCASE_INGEST_S3_RANGE_BYTES = 128 << 10
    body = parquet_bytes(
        *[[contract_row(i) for i in range(g * 400, (g + 1) * 400)] for g in range(5)]
    )
    put_file(s3, bucket, "flagged/resume.parquet", body)
    metadata = pq.ParquetFile(io.BytesIO(body)).metadata
    [run_id] = ingest_services.inbox_scan(bucket=bucket)
    assert interrupted_after(s3, run_id, chunks=2).rows_read == 1000  # row 1001: group 3

    with S3Requests() as requests:
        run = ingest_services.ingest_run_execute(run_id=run_id)

    assert run.status == IngestRun.Status.SUCCEEDED, run.error
    assert books(run) == (2000, 2000, 0, 0)
    spans = requests.spans()
    third_group = group_start(metadata.row_group(2))
    # The footer's blocks, then blocks from the third group on: none wholly before it.
    assert all(last >= third_group for _, last in spans), "a group before the third was read"
    assert sum(last - first + 1 for first, last in spans) < len(body) * 3 // 5 + 2 * block
    assert Transaction.objects.get(transaction_id="tx_00001000").source_row == 1001


def test_a_resumed_gzip_run_reads_again_from_the_start_and_skips_what_was_committed(
    s3, bucket, settings
):
    settings.FRAUDCASE_INGEST_CHUNK_ROWS = 10
    put_file(
        s3,
        bucket,
        "flagged/resume.csv.gz",
        encode_rows([small_row(i) for i in range(35)], "csv.gz"),
    )
    [run_id] = ingest_services.inbox_scan(bucket=bucket)
    stopped = interrupted_after(s3, run_id, chunks=2)
    assert (stopped.rows_read, stopped.resume_offset) == (20, None)

    with S3Requests() as requests:
        run = ingest_services.ingest_run_execute(run_id=run_id)

    assert requests.ranges == [None]  # the whole object, from byte 0
    assert books(run) == (35, 35, 0, 0)
