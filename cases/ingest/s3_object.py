"""One S3 object version read by ranges: a seekable file for Parquet, a stream from any offset
for the line formats. Nothing is copied to local disk.

Every request names the run's ETag (If-Match), so an object replaced meanwhile is refused
(PreconditionFailed), never read half old, half new.
"""

from __future__ import annotations

import io
from collections import OrderedDict

from django.conf import settings

from cases.ingest.records import UnreadableFile

# Blocks kept for reads that come back to them (pyarrow reads a row group's columns in turn).
CACHED_BLOCKS = 3


class S3ObjectFile(io.RawIOBase):
    """A read-only, seekable file over one object version, fetched by ranged GETs of aligned
    blocks of FRAUDCASE_INGEST_S3_RANGE_BYTES (the last CACHED_BLOCKS kept): pyarrow's
    ParquetFile reads the footer, then row group by row group, in small reads that one GET
    serves many of. Each GET costs a round trip (and a whole-object copy in moto's server).

    bytes_read: progress, the bytes of the object behind what was read so far (fetched by
    ranges, or a stream's start offset plus what it streamed).
    """

    def __init__(
        self,
        client,
        *,
        bucket: str,
        key: str,
        etag: str,
        size: int | None,
        block_bytes: int | None = None,
    ) -> None:
        self._client = client
        self._bucket = bucket
        self._key = key
        self._if_match = f'"{etag}"'
        if size is None:
            head = client.head_object(Bucket=bucket, Key=key, IfMatch=self._if_match)
            size = head["ContentLength"]
        self.size = size
        self._position = 0
        self.bytes_read = 0
        self._block_bytes = block_bytes or settings.FRAUDCASE_INGEST_S3_RANGE_BYTES
        self._blocks: OrderedDict[int, bytes] = OrderedDict()

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self.size}[whence]
        self._position = max(0, base + offset)
        return self._position

    def read(self, size: int = -1) -> bytes:
        left = self.size - self._position
        wanted = left if size is None or size < 0 else min(size, left)
        if wanted <= 0:
            return b""
        block = self._block_bytes
        first, last = self._position // block, (self._position + wanted - 1) // block
        pieces = [self._block(index) for index in range(first, last + 1)]
        start = self._position - first * block
        data = (
            pieces[0][start : start + wanted]
            if len(pieces) == 1
            else (b"".join(pieces)[start : start + wanted])
        )
        self._position += len(data)
        return data

    def _block(self, index: int) -> bytes:
        block = self._blocks.get(index)
        if block is None:
            start = index * self._block_bytes
            block = self.read_range(start, min(self._block_bytes, self.size - start))
            self._blocks[index] = block
            if len(self._blocks) > CACHED_BLOCKS:
                self._blocks.popitem(last=False)
        else:
            self._blocks.move_to_end(index)
        return block

    def readall(self) -> bytes:
        return self.read(-1)

    def readinto(self, buffer) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def read_range(self, start: int, length: int) -> bytes:
        """Bytes start .. start + length - 1 of the object, in one GET."""
        last = start + length - 1
        response = self._client.get_object(
            Bucket=self._bucket,
            Key=self._key,
            IfMatch=self._if_match,
            Range=f"bytes={start}-{last}",
        )
        _check_range(response, start)
        body = response["Body"]
        try:
            data = body.read(length)  # never more, whatever the server sent
        finally:
            body.close()
        self.bytes_read = min(self.size, self.bytes_read + len(data))
        return data

    def stream(self, start: int = 0) -> StreamFrom:
        """The object from byte start to its end, streamed (one GET)."""
        extra = {"Range": f"bytes={start}-"} if start else {}
        response = self._client.get_object(
            Bucket=self._bucket, Key=self._key, IfMatch=self._if_match, **extra
        )
        if start:
            _check_range(response, start)
        self.bytes_read = start
        return StreamFrom(response["Body"], self)


def _check_range(response, start: int) -> None:
    served = response.get("ContentRange") or ""
    if not served.startswith(f"bytes {start}-"):
        raise UnreadableFile(
            f"S3 answered a read from byte {start} with {served or 'the whole object'}: "
            "this S3 endpoint does not serve ranged reads, which ingest needs"
        )


class StreamFrom(io.RawIOBase):
    """A raw stream over a GET's body that counts what it read into the object's progress."""

    def __init__(self, body, progress: S3ObjectFile) -> None:
        self._body = body
        self._progress = progress

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self._body.read(len(buffer))
        size = len(data)
        buffer[:size] = data
        self._progress.bytes_read += size
        return size

    def close(self) -> None:
        self._body.close()
        super().close()
