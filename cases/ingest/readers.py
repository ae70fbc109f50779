"""Streaming readers for the inbox formats.

Each reader yields SourceRecords one by one from a file-like S3 body, so memory stays flat
whatever the file size. A file that cannot be read at all raises UnreadableFile before the
first record; a stream that breaks later raises it at the point of breakage.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import shutil
import tempfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from cases.ingest.contract import CONTRACT_COLUMNS, REQUIRED_COLUMNS
from cases.ingest.jsontext import json_loads_rows

FORMATS_BY_SUFFIX = {
    ".csv.gz": "csv.gz",
    ".jsonl.gz": "jsonl.gz",
    ".csv": "csv",
    ".jsonl": "jsonl",
    ".parquet": "parquet",
}
PARQUET_BATCH_ROWS = 4096
GZIP_MAGIC = b"\x1f\x8b"


class UnreadableFile(Exception):
    """The file as a whole cannot be read; the message says why, for the operator."""


@dataclass(slots=True)
class SourceRecord:
    """One row of a source file before validation.

    raw is the row's text as it stood in the file (CSV, JSONL); for Parquet it is built on
    demand, since most rows are never quarantined.
    """

    row_number: int
    values: dict | None
    raw: str | None = None
    errors: list[str] = field(default_factory=list)

    def raw_text(self) -> str:
        if self.raw is None:
            self.raw = json.dumps(self.values, default=_json_default, ensure_ascii=False)
        return self.raw


def _json_default(value):
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


def file_format(key: str) -> str:
    lowered = key.lower()
    for suffix, name in FORMATS_BY_SUFFIX.items():
        if lowered.endswith(suffix):
            return name
    raise UnreadableFile(
        f"unknown format: {key!r} does not end in one of "
        f"{', '.join(FORMATS_BY_SUFFIX)}; nothing was loaded"
    )


class CountingReader(io.RawIOBase):
    """A raw stream over a boto3 body that counts the (compressed) bytes read, for progress."""

    def __init__(self, body) -> None:
        self._body = body
        self.bytes_read = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self._body.read(len(buffer))
        size = len(data)
        buffer[:size] = data
        self.bytes_read += size
        return size


def read_records(
    body: CountingReader,
    fmt: str,
    *,
    columns: tuple[str, ...] = CONTRACT_COLUMNS,
    required: tuple[str, ...] = REQUIRED_COLUMNS,
) -> Iterator[SourceRecord]:
    """Yield the records of one object in file order.

    columns and required name the contract the header is checked against (flagged
    transactions by default; the curation contract for curation/ files).
    """
    if fmt == "parquet":
        yield from _parquet_records(body, required)
        return
    binary = io.BufferedReader(body, buffer_size=1 << 20)
    if fmt.endswith(".gz"):
        if binary.peek(2)[:2] != GZIP_MAGIC:
            raise UnreadableFile(
                "not gzip: the key ends in .gz but the content is not gzip-compressed; "
                "nothing was loaded"
            )
        binary = gzip.GzipFile(fileobj=binary, mode="rb")
    records = (
        _csv_records(binary, columns, required) if fmt.startswith("csv") else _jsonl_records(binary)
    )
    try:
        yield from records
    except (gzip.BadGzipFile, EOFError, zlib.error, OSError) as exc:
        raise UnreadableFile(f"the compressed stream is corrupt or truncated: {exc}") from exc


def _decoded_lines(binary, counter: list[int], bad_lines: set[int]) -> Iterator[str]:
    """Lines as text; a line that is not UTF-8 is decoded with replacement and remembered."""
    for raw_line in binary:
        counter[0] += 1
        try:
            text = raw_line.decode("utf-8")
        except UnicodeDecodeError:
            text = raw_line.decode("utf-8", errors="replace")
            bad_lines.add(counter[0])
        if counter[0] == 1:
            text = text.removeprefix("\ufeff")
        yield text


def _check_header(
    header: list[str],
    columns: tuple[str, ...] = CONTRACT_COLUMNS,
    required: tuple[str, ...] = REQUIRED_COLUMNS,
) -> list[str]:
    names = [name.strip() for name in header]
    if not any(names):
        raise UnreadableFile("no header row: the first line is empty; nothing was loaded")
    known = set(columns)
    if not known.intersection(names):
        raise UnreadableFile(
            "no header row: the first line names none of the contract's columns "
            f"(expected at least {', '.join(required)}); nothing was loaded"
        )
    duplicated = sorted({name for name in names if names.count(name) > 1})
    if duplicated:
        raise UnreadableFile(
            f"the header repeats column(s) {', '.join(duplicated)}; nothing was loaded"
        )
    missing = [name for name in required if name not in names]
    if missing:
        raise UnreadableFile(
            f"missing required column(s): {', '.join(missing)}; nothing was loaded"
        )
    return names


def _csv_records(
    binary,
    contract_columns: tuple[str, ...] = CONTRACT_COLUMNS,
    required: tuple[str, ...] = REQUIRED_COLUMNS,
) -> Iterator[SourceRecord]:
    line_counter = [0]
    bad_lines: set[int] = set()
    consumed: list[str] = []

    def tracked_lines():
        for line in _decoded_lines(binary, line_counter, bad_lines):
            consumed.append(line)
            yield line

    reader = csv.reader(tracked_lines(), strict=True)
    try:
        header = next(reader)
    except StopIteration:
        raise UnreadableFile(
            "the file is empty: a CSV needs a header row; nothing was loaded"
        ) from None
    except csv.Error as exc:
        raise UnreadableFile(f"the header row is not valid CSV: {exc}; nothing was loaded") from exc
    columns = _check_header(header, contract_columns, required)
    consumed.clear()
    start_line = line_counter[0] + 1
    while True:
        errors: list[str] = []
        try:
            fields = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            fields = None
            errors.append(f"not valid CSV: {exc}")
        raw = "".join(consumed).rstrip("\r\n")
        consumed.clear()
        row_start, start_line = start_line, line_counter[0] + 1
        if fields == [] or (fields is not None and not raw.strip()):
            continue  # a blank line is not a row
        values = None
        if fields is not None:
            if len(fields) != len(columns):
                errors.append(f"has {len(fields)} fields, the header has {len(columns)}")
            else:
                values = dict(zip(columns, fields, strict=True))
        if any(line in bad_lines for line in range(row_start, start_line)):
            errors.append("not valid UTF-8 text")
        yield SourceRecord(row_number=row_start, values=values, raw=raw, errors=errors)


def _jsonl_records(binary) -> Iterator[SourceRecord]:
    line_counter = [0]
    bad_lines: set[int] = set()
    for text in _decoded_lines(binary, line_counter, bad_lines):
        line_number = line_counter[0]
        raw = text.rstrip("\r\n")
        if not raw.strip():
            continue
        errors = ["not valid UTF-8 text"] if line_number in bad_lines else []
        values = None
        try:
            parsed = json_loads_rows(raw)
        except ValueError as exc:
            errors.append(f"not valid JSON: {exc}")
        else:
            if isinstance(parsed, dict):
                values = parsed
            else:
                errors.append(f"not a JSON object but a {type(parsed).__name__}")
        yield SourceRecord(row_number=line_number, values=values, raw=raw, errors=errors)


def _parquet_records(
    body: CountingReader, required: tuple[str, ...] = REQUIRED_COLUMNS
) -> Iterator[SourceRecord]:
    """Parquet needs random access: spool the object to a temporary file, then read batches."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    with tempfile.TemporaryFile(prefix="fraudcase-ingest-") as spool:
        shutil.copyfileobj(io.BufferedReader(body, buffer_size=1 << 20), spool, 1 << 20)
        spool.seek(0)
        try:
            # No pre-buffering and a bounded read buffer: memory follows one row group, not
            # the file (pre_buffer alone held most of a 170 MB file in memory).
            parquet_file = pq.ParquetFile(spool, pre_buffer=False, buffer_size=1 << 20)
        except (pa.ArrowException, OSError) as exc:
            raise UnreadableFile(f"not a Parquet file: {exc}; nothing was loaded") from exc
        names = parquet_file.schema_arrow.names
        missing = [name for name in required if name not in names]
        if missing:
            raise UnreadableFile(
                f"missing required column(s): {', '.join(missing)}; nothing was loaded"
            )
        row_number = 0
        try:
            # One thread: decoding columns in parallel multiplies the memory in flight.
            for batch in parquet_file.iter_batches(
                batch_size=PARQUET_BATCH_ROWS, use_threads=False
            ):
                columns = {}
                for name in batch.schema.names:
                    column = batch.column(name)
                    if name == "embedding" and _is_float_list(column.type):
                        columns[name] = _embedding_rows(column)
                    else:
                        columns[name] = column.to_pylist()
                for index in range(batch.num_rows):
                    row_number += 1
                    values = {name: column[index] for name, column in columns.items()}
                    yield SourceRecord(row_number=row_number, values=values)
        except (pa.ArrowException, OSError) as exc:
            raise UnreadableFile(
                f"the Parquet file is corrupt after row {row_number}: {exc}"
            ) from exc


def _is_float_list(arrow_type) -> bool:
    import pyarrow as pa

    return (
        pa.types.is_list(arrow_type)
        or pa.types.is_large_list(arrow_type)
        or pa.types.is_fixed_size_list(arrow_type)
    ) and pa.types.is_floating(arrow_type.value_type)


def _embedding_rows(column) -> list[np.ndarray | None]:
    """Zero-copy slices of a list<float> column: no Python float objects per value."""
    import pyarrow as pa

    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    if pa.types.is_fixed_size_list(column.type):
        column = column.cast(pa.list_(column.type.value_type))
    offsets = column.offsets.to_numpy()
    flat = column.values.to_numpy(zero_copy_only=False)
    valid = column.is_valid().to_numpy(zero_copy_only=False)
    return [flat[offsets[i] : offsets[i + 1]] if valid[i] else None for i in range(len(column))]
