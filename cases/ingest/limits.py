"""Bounds on what one file may make a worker hold, whatever the file.

A line longer than FRAUDCASE_INGEST_MAX_LINE_BYTES, a gzip stream that inflates past
FRAUDCASE_INGEST_MAX_GZIP_RATIO times what was read of it or past
FRAUDCASE_INGEST_MAX_DECOMPRESSED_BYTES (a gzip bomb), and a Parquet row group larger than
FRAUDCASE_INGEST_MAX_ROW_GROUP_BYTES uncompressed are refused (UnreadableFile) before they are
held in memory: the run fails with the reason, the rows read before it are kept.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from django.conf import settings

from cases.ingest.records import UnreadableFile

# A gzip stream's ratio is judged once this much came out of it: below that, a small file's
# ratio says little and its size costs nothing.
GZIP_RATIO_FLOOR_BYTES = 16 << 20


@dataclass(frozen=True, slots=True)
class ReadLimits:
    max_line_bytes: int
    max_gzip_ratio: float
    max_decompressed_bytes: int
    max_row_group_bytes: int

    @classmethod
    def from_settings(cls) -> ReadLimits:
        return cls(
            max_line_bytes=settings.FRAUDCASE_INGEST_MAX_LINE_BYTES,
            max_gzip_ratio=settings.FRAUDCASE_INGEST_MAX_GZIP_RATIO,
            max_decompressed_bytes=settings.FRAUDCASE_INGEST_MAX_DECOMPRESSED_BYTES,
            max_row_group_bytes=settings.FRAUDCASE_INGEST_MAX_ROW_GROUP_BYTES,
        )


def line_too_long(line_number: int, limits: ReadLimits) -> UnreadableFile:
    return UnreadableFile(
        f"line {line_number} is longer than {limits.max_line_bytes:,} bytes "
        "(FRAUDCASE_INGEST_MAX_LINE_BYTES): refused before reading it whole"
    )


class DecompressionGuard(io.RawIOBase):
    """The inflated bytes of a gzip stream, refused past the limits (a gzip bomb).

    compressed is what counts the bytes read of the object (its bytes_read).
    """

    def __init__(self, inflated, compressed, limits: ReadLimits) -> None:
        self._inflated = inflated
        self._compressed = compressed
        self._limits = limits
        self.bytes_out = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        # read1: what is inflated so far, so the rows before a truncation still come out.
        data = self._inflated.read1(len(buffer))
        size = len(data)
        buffer[:size] = data
        self.bytes_out += size
        limits = self._limits
        if self.bytes_out > limits.max_decompressed_bytes:
            raise UnreadableFile(
                f"the gzip stream inflates past {limits.max_decompressed_bytes:,} bytes "
                "(FRAUDCASE_INGEST_MAX_DECOMPRESSED_BYTES): refused as a possible gzip bomb"
            )
        compressed = max(1, self._compressed.bytes_read)
        if (
            self.bytes_out > GZIP_RATIO_FLOOR_BYTES
            and self.bytes_out > limits.max_gzip_ratio * compressed
        ):
            raise UnreadableFile(
                f"the gzip stream inflates {self.bytes_out // compressed:,} times "
                f"({self.bytes_out:,} bytes out of {compressed:,}), more than "
                f"{limits.max_gzip_ratio:g} (FRAUDCASE_INGEST_MAX_GZIP_RATIO): refused as a "
                "gzip bomb"
            )
        return size


def check_row_groups(metadata, limits: ReadLimits) -> None:
    """Refuse a Parquet file with a row group over the cap, from its footer, before any row."""
    for index in range(metadata.num_row_groups):
        group = metadata.row_group(index)
        if group.total_byte_size > limits.max_row_group_bytes:
            raise UnreadableFile(
                f"row group {index + 1} of {metadata.num_row_groups} holds "
                f"{group.total_byte_size:,} bytes uncompressed ({group.num_rows:,} rows), more "
                f"than {limits.max_row_group_bytes:,} (FRAUDCASE_INGEST_MAX_ROW_GROUP_BYTES): "
                "write it with smaller row groups; nothing was loaded"
            )
