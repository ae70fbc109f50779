"""Streaming readers for the inbox formats.

Each reader yields SourceRecords one by one from a file-like S3 body, so memory stays flat
whatever the file size. A file that cannot be read at all raises UnreadableFile before the
first record; a stream that breaks later raises it at the point of breakage.
"""

from __future__ import annotations

import csv
import gzip
import io
import itertools
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

from cases.ingest.contract import CONTRACT_COLUMNS, REQUIRED_COLUMNS
from cases.ingest.jsontext import json_loads_rows
from cases.ingest.limits import DecompressionGuard, ReadLimits, line_too_long
from cases.ingest.parquet import parquet_records
from cases.ingest.records import SourceRecord, UnreadableFile
from cases.ingest.s3_object import S3ObjectFile

__all__ = ["SourceRecord", "UnreadableFile", "file_format", "read_records"]

FORMATS_BY_SUFFIX = {
    ".csv.gz": "csv.gz",
    ".jsonl.gz": "jsonl.gz",
    ".csv": "csv",
    ".jsonl": "jsonl",
    ".parquet": "parquet",
}
GZIP_MAGIC = b"\x1f\x8b"
READ_BUFFER_BYTES = 1 << 20


def file_format(key: str) -> str:
    lowered = key.lower()
    for suffix, name in FORMATS_BY_SUFFIX.items():
        if lowered.endswith(suffix):
            return name
    raise UnreadableFile(
        f"unknown format: {key!r} does not end in one of "
        f"{', '.join(FORMATS_BY_SUFFIX)}; nothing was loaded"
    )


@dataclass(frozen=True, slots=True)
class ResumePoint:
    """Where an interrupted run's committed rows end: rows_done rows; for uncompressed CSV and
    JSON Lines also the byte offset after the last of them and the lines before it (None:
    unknown, the file is read again from its start and those rows skipped)."""

    rows_done: int = 0
    offset: int | None = None
    line: int = 0


def read_records(
    source: S3ObjectFile,
    fmt: str,
    *,
    columns: tuple[str, ...] = CONTRACT_COLUMNS,
    required: tuple[str, ...] = REQUIRED_COLUMNS,
    limits: ReadLimits | None = None,
    resume: ResumePoint | None = None,
) -> Iterator[SourceRecord]:
    """Yield the records of one object in file order, after resume.rows_done (a resumed run).

    columns and required name the contract the header is checked against (flagged
    transactions by default; the curation and shadow contracts for their files). limits bound what
    one line, one inflated stream and one row group may hold (the settings by default).
    Parquet is read by ranges, row group by row group, from the group holding the first row
    not done; CSV and JSON Lines are streamed, from the offset after the last row done when
    uncompressed (a CSV's header comes from a ranged read of the file's start). gzip cannot
    seek: a resumed .gz is read again from its start and the rows done are skipped.
    """
    limits = limits or ReadLimits.from_settings()
    resume = resume or ResumePoint()
    if fmt == "parquet":
        yield from parquet_records(source, required, limits, rows_done=resume.rows_done)
        return
    seek = resume.rows_done > 0 and resume.offset is not None and not fmt.endswith(".gz")
    if seek and resume.offset >= source.size:
        return  # every row was committed; only the run's last step was lost
    if seek and fmt == "csv":  # the header from the start, then the rows from the offset
        header = source.read_range(0, min(source.size, limits.max_line_bytes + 1))
        lines = _DecodedLines(io.BufferedReader(io.BytesIO(header)), limits, seekable=True)

        def after_header():
            lines.jump(_buffered(source.stream(resume.offset)), resume)

        records = _csv_records(lines, columns, required, after_header=after_header)
    elif seek:
        lines = _DecodedLines(_buffered(source.stream(resume.offset)), limits, seekable=True)
        lines.number, lines.offset = resume.line, resume.offset
        records = _jsonl_records(lines)
    else:
        binary = _buffered(source.stream())
        if fmt.endswith(".gz"):
            if binary.peek(2)[:2] != GZIP_MAGIC:
                raise UnreadableFile(
                    "not gzip: the key ends in .gz but the content is not gzip-compressed; "
                    "nothing was loaded"
                )
            inflated = gzip.GzipFile(fileobj=binary, mode="rb")
            binary = _buffered(DecompressionGuard(inflated, source, limits))
        lines = _DecodedLines(binary, limits, seekable=not fmt.endswith(".gz"))
        records = (
            _csv_records(lines, columns, required)
            if fmt.startswith("csv")
            else _jsonl_records(lines)
        )
        # Rows done by an earlier attempt, read again and skipped (gzip cannot seek).
        records = itertools.islice(records, resume.rows_done, None)
    try:
        yield from records
    except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
        raise UnreadableFile(f"the compressed stream is corrupt or truncated: {exc}") from exc
    finally:
        lines.close()


def _buffered(raw) -> io.BufferedReader:
    return io.BufferedReader(raw, buffer_size=READ_BUFFER_BYTES)


class _DecodedLines:
    """The file's lines as text, numbered from 1, none read whole past the line limit.

    A line that is not UTF-8 is decoded with replacement and its number remembered. offset:
    the byte offset after the last line read (seekable, uncompressed files only).
    """

    def __init__(self, binary, limits: ReadLimits, *, seekable: bool) -> None:
        self._binary = binary
        self._limits = limits
        self.seekable = seekable
        self.number = 0  # lines read so far
        self.offset = 0
        self.bad_lines: set[int] = set()

    def jump(self, binary, resume: ResumePoint) -> None:
        """Go on from the resume point's offset and line, read from binary."""
        self._binary.close()
        self._binary = binary
        self.number, self.offset = resume.line, resume.offset

    def close(self) -> None:
        self._binary.close()

    def resume_point(self) -> dict:
        """Checkpoint fields for a row ending here."""
        if not self.seekable:
            return {}
        return {"resume_offset": self.offset, "resume_line": self.number}

    def __iter__(self) -> Iterator[str]:
        longest = self._limits.max_line_bytes
        # At most one byte past the limit in memory; _binary changes when jump() is called.
        while raw_line := self._binary.readline(longest + 1):
            self.number += 1
            self.offset += len(raw_line)
            if len(raw_line) > longest and not raw_line.endswith(b"\n"):
                raise line_too_long(self.number, self._limits)
            try:
                text = raw_line.decode("utf-8")
            except UnicodeDecodeError:
                text = raw_line.decode("utf-8", errors="replace")
                self.bad_lines.add(self.number)
            if self.number == 1:
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
    lines: _DecodedLines,
    contract_columns: tuple[str, ...] = CONTRACT_COLUMNS,
    required: tuple[str, ...] = REQUIRED_COLUMNS,
    after_header=None,
) -> Iterator[SourceRecord]:
    consumed: list[str] = []

    def tracked_lines():
        for line in lines:
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
    if after_header is not None:
        after_header()
    consumed.clear()
    start_line = lines.number + 1
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
        row_start, start_line = start_line, lines.number + 1
        if fields == [] or (fields is not None and not raw.strip()):
            continue  # a blank line is not a row
        values = None
        if fields is not None:
            if len(fields) != len(columns):
                errors.append(f"has {len(fields)} fields, the header has {len(columns)}")
            else:
                values = dict(zip(columns, fields, strict=True))
        if any(line in lines.bad_lines for line in range(row_start, start_line)):
            errors.append("not valid UTF-8 text")
        yield SourceRecord(
            row_number=row_start, values=values, raw=raw, errors=errors, **lines.resume_point()
        )


def _jsonl_records(lines: _DecodedLines) -> Iterator[SourceRecord]:
    for text in lines:
        line_number = lines.number
        raw = text.rstrip("\r\n")
        if not raw.strip():
            continue
        errors = ["not valid UTF-8 text"] if line_number in lines.bad_lines else []
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
        yield SourceRecord(
            row_number=line_number, values=values, raw=raw, errors=errors, **lines.resume_point()
        )
