"""Parquet, read from S3 by ranges: the footer first, then row group by row group.

Nothing is spooled to local disk: pyarrow reads through S3ObjectFile, each read one ranged
GET of at most READ_BUFFER_BYTES (or one small column chunk), so the bytes held follow one
row group's pages, not the file.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from cases.ingest.limits import ReadLimits, check_row_groups
from cases.ingest.records import SourceRecord, UnreadableFile

PARQUET_BATCH_ROWS = 4096
READ_BUFFER_BYTES = 1 << 20


def parquet_records(
    source, required: tuple[str, ...], limits: ReadLimits, *, rows_done: int = 0
) -> Iterator[SourceRecord]:
    """The file's rows after the first rows_done, in order, read by ranges from source (a
    seekable S3ObjectFile), from the row group holding the first row not done.

    The footer is checked (schema, row group sizes) before any row is read.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        # No pre-buffering and a bounded read buffer: memory follows one row group's pages,
        # not the file (pre_buffer alone held most of a 170 MB file in memory).
        parquet_file = pq.ParquetFile(source, pre_buffer=False, buffer_size=READ_BUFFER_BYTES)
    except (pa.ArrowException, OSError) as exc:
        _raise_unless_arrows(exc)
        raise UnreadableFile(f"not a Parquet file: {exc}; nothing was loaded") from exc
    names = parquet_file.schema_arrow.names
    missing = [name for name in required if name not in names]
    if missing:
        raise UnreadableFile(
            f"missing required column(s): {', '.join(missing)}; nothing was loaded"
        )
    check_row_groups(parquet_file.metadata, limits)
    first_group, row_number = _group_holding(parquet_file.metadata, rows_done)
    skip = rows_done - row_number  # done rows at the start of the first group read
    try:
        # Row group by row group (a batch never spans two, so reads stay within one group's
        # bytes); one thread: decoding columns in parallel multiplies the memory in flight.
        for group in range(first_group, parquet_file.num_row_groups):
            batches = parquet_file.iter_batches(
                batch_size=PARQUET_BATCH_ROWS, row_groups=[group], use_threads=False
            )
            for batch in batches:
                if skip:  # rows done by an earlier attempt
                    skipped = min(skip, batch.num_rows)
                    batch = batch.slice(skipped)
                    skip -= skipped
                    row_number += skipped
                columns = _batch_columns(batch)
                for index in range(batch.num_rows):
                    row_number += 1
                    values = {name: column[index] for name, column in columns.items()}
                    yield SourceRecord(row_number=row_number, values=values)
    except (pa.ArrowException, OSError) as exc:
        _raise_unless_arrows(exc)
        raise UnreadableFile(f"the Parquet file is corrupt after row {row_number}: {exc}") from exc
    source.bytes_read = source.size  # footer and every row group: the whole object


def _group_holding(metadata, rows_done: int) -> tuple[int, int]:
    """The row group holding row rows_done + 1 (0-based), and the rows before that group."""
    rows_before = 0
    for group in range(metadata.num_row_groups):
        rows = metadata.row_group(group).num_rows
        if rows_before + rows > rows_done:
            return group, rows_before
        rows_before += rows
    return metadata.num_row_groups, rows_before


def _batch_columns(batch) -> dict[str, list]:
    columns = {}
    for name in batch.schema.names:
        column = batch.column(name)
        if name == "embedding" and _is_float_list(column.type):
            columns[name] = _embedding_rows(column)
        else:
            columns[name] = column.to_pylist()
    return columns


def _raise_unless_arrows(exc: Exception) -> None:
    """Arrow's own errors say the file is bad (an OSError without errno); an error of the
    system or the network under a read (S3 out of reach, disk full) is raised as it is."""
    import pyarrow as pa

    if isinstance(exc, OSError) and not isinstance(exc, pa.ArrowException) and exc.errno:
        raise exc


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
