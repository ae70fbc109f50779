"""The inbox scan lists only what is new: a cursor per (bucket, prefix), passed to S3 as
StartAfter, and a full rescan now and then for keys that sort before it.

Keys listed are counted on the test's own S3 client (a botocore after-call hook on what the
real embedded S3 server answered); the scan, the database and S3 are the real ones.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from cases.fileformats import encode_rows
from cases.ingest import services as ingest_services
from cases.models import InboxCursor, IngestRun, Transaction
from conftest import contract_row, put_file

pytestmark = pytest.mark.django_db


class ListedKeys:
    """Counts the keys S3 listed to one client, per prefix (after-call on ListObjectsV2)."""

    def __init__(self, client) -> None:
        self.events = client.meta.events
        self.by_prefix: dict[str, int] = {}
        self.start_after: list[str] = []
        self.events.register("after-call.s3.ListObjectsV2", self._count)

    def _count(self, parsed, **_):
        prefix = parsed.get("Prefix", "")
        self.by_prefix[prefix] = self.by_prefix.get(prefix, 0) + len(parsed.get("Contents", []))
        self.start_after.append(parsed.get("StartAfter", ""))

    def total(self) -> int:
        return sum(self.by_prefix.values())

    def reset(self) -> None:
        self.by_prefix, self.start_after = {}, []

    def close(self) -> None:
        self.events.unregister("after-call.s3.ListObjectsV2", self._count)


@pytest.fixture
def listed(s3):
    counter = ListedKeys(s3)
    yield counter
    counter.close()


def put_rows(s3, bucket: str, key: str, first: int, count: int = 3) -> None:
    rows = [contract_row(i) for i in range(first, first + count)]
    put_file(s3, bucket, key, encode_rows(rows, "jsonl"))


def scan(s3, bucket: str) -> list[int]:
    return ingest_services.inbox_scan(bucket=bucket, client=s3)


def test_the_second_scan_lists_only_the_keys_uploaded_since(s3, bucket, listed):
    for hour in range(10, 14):
        put_rows(s3, bucket, f"flagged/2026-11-01T{hour}0000Z-detector.jsonl", hour * 10)
    put_file(s3, bucket, "curation/2026-11-01T100000Z.jsonl", b'{"source_ip": "81.2.69.1"}\n')

    first = scan(s3, bucket)

    assert len(first) == 5 and listed.total() == 5  # the first scan lists everything
    listed.reset()
    put_rows(s3, bucket, "flagged/2026-11-01T140000Z-detector.jsonl", 140)

    second = scan(s3, bucket)

    assert listed.by_prefix == {"flagged/": 1, "curation/": 0, "shadow/": 0}  # only the new key
    assert listed.start_after == [
        "flagged/2026-11-01T130000Z-detector.jsonl",
        "curation/2026-11-01T100000Z.jsonl",
        "",  # shadow/: nothing there yet, listed from its start
    ]
    [new_run] = IngestRun.objects.filter(pk__in=second)
    assert new_run.key == "flagged/2026-11-01T140000Z-detector.jsonl"
    listed.reset()

    assert scan(s3, bucket) == [] and listed.total() == 0
    cursor = InboxCursor.objects.get(bucket=bucket, prefix="flagged/")
    assert cursor.start_after == "flagged/2026-11-01T140000Z-detector.jsonl"


def test_a_late_key_sorting_before_the_cursor_waits_for_the_full_rescan_and_is_taken_once(
    s3, bucket, listed, settings
):
    settings.FRAUDCASE_INBOX_FULL_RESCAN_SECONDS = 3600
    put_rows(s3, bucket, "flagged/2026-11-01T100000Z.jsonl", 0)
    put_rows(s3, bucket, "flagged/2026-11-01T120000Z.jsonl", 10)
    runs = [ingest_services.ingest_run_execute(run_id=run_id) for run_id in scan(s3, bucket)]
    assert [run.rows_loaded for run in runs] == [3, 3]
    # Uploaded late under an earlier name: after the cursor's key in time, before it in order.
    put_rows(s3, bucket, "flagged/2026-11-01T110000Z.jsonl", 20)
    listed.reset()

    assert scan(s3, bucket) == []  # the incremental scan cannot see it
    assert listed.by_prefix["flagged/"] == 0

    # An hour after the last full listing (by the database's clock) the next scan is full.
    InboxCursor.objects.filter(bucket=bucket).update(
        full_scan_at=InboxCursor.objects.get(bucket=bucket, prefix="flagged/").full_scan_at
        - timedelta(seconds=3601)
    )
    listed.reset()
    rescanned = scan(s3, bucket)

    assert listed.by_prefix["flagged/"] == 3 and listed.start_after[0] == ""
    [late] = IngestRun.objects.filter(pk__in=rescanned)
    assert late.key == "flagged/2026-11-01T110000Z.jsonl"
    done = ingest_services.ingest_run_execute(run_id=late.pk)
    assert (done.rows_loaded, done.rows_duplicate) == (3, 0)
    # Nothing twice: the next full rescan registers nothing, every row is in once.
    settings.FRAUDCASE_INBOX_FULL_RESCAN_SECONDS = 0
    assert scan(s3, bucket) == []
    assert IngestRun.objects.count() == 3
    assert Transaction.objects.count() == 9
    assert not IngestRun.objects.filter(rows_duplicate__gt=0).exists()
    cursor = InboxCursor.objects.get(bucket=bucket, prefix="flagged/")
    assert cursor.start_after == "flagged/2026-11-01T120000Z.jsonl"  # never moved backwards


def test_a_prefix_given_is_listed_whole_and_moves_no_cursor(s3, bucket, listed):
    put_rows(s3, bucket, "flagged/b.jsonl", 0)
    assert len(scan(s3, bucket)) == 1
    put_rows(s3, bucket, "flagged/a.jsonl", 10)  # sorts before the cursor
    listed.reset()

    run_ids = ingest_services.inbox_scan(bucket=bucket, prefix="flagged/", client=s3)

    assert [IngestRun.objects.get(pk=pk).key for pk in run_ids] == ["flagged/a.jsonl"]
    assert listed.by_prefix == {"flagged/": 2}
    assert (
        InboxCursor.objects.get(bucket=bucket, prefix="flagged/").start_after == "flagged/b.jsonl"
    )
