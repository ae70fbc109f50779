"""Encode rows into every file format the S3 inbox accepts (JSON Lines, CSV, Parquet, gzipped).

The encoders write whatever they are given, without validating: tests and the demo feed
them broken rows on purpose, so the ingest side has something to quarantine. Keys starting
with "_" are the generator's private truth and are never written.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from collections.abc import Iterable, Iterator
from datetime import date, datetime, time
from decimal import Decimal
from typing import IO, Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from cases.ingest.contract import CONTRACT_COLUMNS

FORMATS = ("csv", "csv.gz", "jsonl", "jsonl.gz", "parquet")
PARQUET_ROW_GROUP_ROWS = 10_000
PARQUET_TYPES = {
    "occurred_at": pa.timestamp("us", tz="UTC"),
    "amount": pa.decimal128(18, 2),
    "similarity_score": pa.float64(),
    "embedding": pa.list_(pa.float32()),
}
# Level 9 is four times slower than 6 on embeddings for a file only 2 % smaller.
GZIP_LEVEL = 6
EMBEDDING_DECIMALS = 6  # about float32's precision, keeps text files compact
_WRITE_BATCH = 1000
_CONVERSION_ERRORS = (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError, OverflowError)


def encode_rows(rows: Iterable[dict], fmt: str) -> bytes:
    """The bytes of a file in `fmt` (one of FORMATS) holding `rows`."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; expected one of {FORMATS}")
    buffer = io.BytesIO()
    if fmt == "parquet":
        _write_parquet(rows, buffer)
        return buffer.getvalue()
    write = _write_csv if fmt.startswith("csv") else _write_jsonl
    if fmt.endswith(".gz"):
        # mtime=0: the same rows always give the same bytes (stable ETags, stable tests).
        with gzip.GzipFile(
            fileobj=buffer, mode="wb", compresslevel=GZIP_LEVEL, mtime=0
        ) as compressed:
            write(rows, compressed)
    else:
        write(rows, buffer)
    return buffer.getvalue()


def public_columns(row: dict) -> list[str]:
    """Contract columns, then the row's extra keys in their own order (never "_" keys)."""
    extras = [key for key in row if key not in CONTRACT_COLUMNS and not str(key).startswith("_")]
    return list(CONTRACT_COLUMNS) + extras


# CSV -------------------------------------------------------------------------------------


def _write_csv(rows: Iterable[dict], sink: IO[bytes]) -> None:
    text = io.TextIOWrapper(sink, encoding="utf-8", newline="")
    writer = csv.writer(text, lineterminator="\n")
    iterator: Iterator[dict] = iter(rows)
    first = next(iterator, None)
    columns = public_columns(first) if first is not None else list(CONTRACT_COLUMNS)
    writer.writerow(columns)
    if first is not None:
        writer.writerow([_csv_cell(column, first.get(column)) for column in columns])
    for row in iterator:
        writer.writerow([_csv_cell(column, row.get(column)) for column in columns])
    text.flush()
    text.detach()  # leave the underlying stream open for the caller


def _csv_cell(column: str, value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if column == "embedding" and isinstance(value, list | tuple | np.ndarray):
        return _embedding_json(value)
    if isinstance(value, dict | list | tuple | np.ndarray):
        return _json_value(value)
    if isinstance(value, float | np.floating):
        return repr(float(value))
    return str(value)


# JSON Lines ------------------------------------------------------------------------------


def _write_jsonl(rows: Iterable[dict], sink: IO[bytes]) -> None:
    lines: list[str] = []
    for row in rows:
        fields = [
            f"{json.dumps(str(key))}:"
            + (
                _embedding_json(value)
                if key == "embedding" and value is not None
                else _json_value(value)
            )
            for key, value in row.items()
            if not str(key).startswith("_")
        ]
        lines.append("{" + ",".join(fields) + "}\n")
        if len(lines) >= _WRITE_BATCH:
            sink.write("".join(lines).encode("utf-8"))
            lines.clear()
    if lines:
        sink.write("".join(lines).encode("utf-8"))


def _json_value(value: Any) -> str:
    """JSON text for `value`; a Decimal is written as its exact digits (12.50 stays 12.50)."""
    if isinstance(value, dict | list):
        try:  # plain containers (features, curation metadata) take json's C fast path
            return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=_not_plain)
        except _NotPlain:
            pass
    if value is None:
        return "null"
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date | time):
        return json.dumps(value.isoformat())
    if isinstance(value, np.ndarray):
        return _json_value(value.tolist())
    if isinstance(value, np.generic):
        return _json_value(value.item())
    if isinstance(value, dict):
        return (
            "{" + ",".join(f"{json.dumps(str(k))}:{_json_value(v)}" for k, v in value.items()) + "}"
        )
    if isinstance(value, list | tuple):
        return "[" + ",".join(_json_value(item) for item in value) + "]"
    if isinstance(value, int | float | str):
        return json.dumps(value, ensure_ascii=False)
    return json.dumps(str(value), ensure_ascii=False)


class _NotPlain(Exception):
    pass


def _not_plain(value: Any):
    raise _NotPlain


def _embedding_json(value: Any) -> str:
    """A compact JSON array; numbers rounded to float32-ish precision, anything odd as given."""
    array = np.asarray(value) if isinstance(value, list | tuple | np.ndarray) else None
    if array is None or array.ndim != 1 or array.dtype.kind not in "fiu":
        return _json_value(value)
    rounded = np.round(array.astype(np.float64), EMBEDDING_DECIMALS).tolist()
    return json.dumps(rounded, separators=(",", ":"))


# Parquet ---------------------------------------------------------------------------------


def _write_parquet(rows: Iterable[dict], sink: IO[bytes]) -> None:
    rows = list(rows)
    columns = public_columns(rows[0]) if rows else list(CONTRACT_COLUMNS)
    arrays = []
    for column in columns:
        values = [row.get(column) for row in rows]
        try:
            array = _typed_array(column, values)
        except _CONVERSION_ERRORS:
            array = None
        if array is None:
            # A value that does not fit the column's type: keep the file, write the column
            # as text so the ingest side can quarantine the offending rows.
            array = pa.array([_text_or_none(column, value) for value in values], pa.string())
        arrays.append(array)
    table = pa.Table.from_arrays(arrays, names=columns)
    pq.write_table(table, sink, row_group_size=PARQUET_ROW_GROUP_ROWS)


def _typed_array(column: str, values: list[Any]) -> pa.Array | None:
    if column == "embedding":
        return _embedding_array(values)
    if column == "features":
        return pa.array([_features_text(value) for value in values], pa.string())
    if column == "occurred_at":
        aware = all(
            value is None or (isinstance(value, datetime) and value.tzinfo is not None)
            for value in values
        )
        return pa.array(values, PARQUET_TYPES[column]) if aware else None
    if column == "amount":
        if not all(value is None or isinstance(value, Decimal) for value in values):
            return None
        return pa.array(values, PARQUET_TYPES[column])
    if column == "similarity_score":
        numeric = all(
            value is None or (isinstance(value, int | float) and not isinstance(value, bool))
            for value in values
        )
        return pa.array(values, pa.float64()) if numeric else None
    if column in CONTRACT_COLUMNS:
        return pa.array(values, pa.string())
    return pa.array(values)  # an extra column: let Arrow infer its type


def _embedding_array(values: list[Any]) -> pa.Array | None:
    offsets, nulls, chunks = [0], [], []
    for value in values:
        if value is None:
            nulls.append(True)
            offsets.append(offsets[-1])
            continue
        if not isinstance(value, list | tuple | np.ndarray):
            return None
        array = np.asarray(value)
        if array.ndim != 1 or array.dtype.kind not in "fiu":
            return None
        chunks.append(array.astype(np.float32, copy=False))
        nulls.append(False)
        offsets.append(offsets[-1] + len(array))
    flat = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.float32)
    return pa.ListArray.from_arrays(
        pa.array(offsets, pa.int32()),
        pa.array(flat, pa.float32()),
        type=PARQUET_TYPES["embedding"],
        mask=pa.array(nulls, pa.bool_()),
    )


def _features_text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return _json_value(value)


def _text_or_none(column: str, value: Any) -> str | None:
    return None if value is None else _csv_cell(column, value)
