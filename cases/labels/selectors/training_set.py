"""Assemble the training set from what was exported: the current label of each transaction.

Reads the retraining bucket only (not the database), so it shows exactly what a data scientist
would train on. Events are ordered by outbox id (the order the labels were saved); a version's
state is its last event (label, or retraction after a quarantine), and the current label of a
transaction is its highest version still standing: the latest version wins.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings

from cases.s3 import s3_client

MANIFEST_SUFFIX = ".manifest.json"


class ExportCorrupt(ValueError):
    """An exported object does not match its manifest."""


@dataclass
class TrainingSet:
    rows: list[dict]
    batches_read: int
    rows_read: int


def exported_manifest_keys(client, *, bucket: str, prefix: str, since: datetime) -> Iterator[str]:
    """Manifest keys in date partitions from since's date on (keys sort by date)."""
    start_after = f"{prefix}/dt={since:%Y-%m-%d}"
    paginator = client.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=f"{prefix}/", StartAfter=start_after):
        for item in page.get("Contents", []):
            if item["Key"].endswith(MANIFEST_SUFFIX):
                yield item["Key"]


def read_batch(client, *, bucket: str, manifest_key: str) -> list[dict]:
    """The rows of one exported batch, checked against its manifest's sha256 and row count."""
    manifest = json.loads(client.get_object(Bucket=bucket, Key=manifest_key)["Body"].read())
    body = client.get_object(Bucket=bucket, Key=manifest["object_key"])["Body"].read()
    if hashlib.sha256(body).hexdigest() != manifest["sha256"]:
        raise ExportCorrupt(f"{manifest['object_key']}: sha256 differs from its manifest")
    rows = [json.loads(line) for line in gzip.decompress(body).decode().splitlines() if line]
    if len(rows) != manifest["row_count"]:
        raise ExportCorrupt(f"{manifest['object_key']}: row count differs from its manifest")
    return rows


def training_set_assemble(
    *,
    since: datetime,
    bucket: str | None = None,
    prefix: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> TrainingSet:
    """The current exported label of every transaction labelled since `since`.

    progress(done, total) is called after each batch. Rows are sorted by transaction id.
    """
    client = s3_client()
    bucket = bucket or settings.FRAUDCASE_RETRAINING_BUCKET
    prefix = (prefix or settings.FRAUDCASE_LABEL_EXPORT_PREFIX).strip("/")
    manifest_keys = list(exported_manifest_keys(client, bucket=bucket, prefix=prefix, since=since))
    events: list[dict] = []
    for done, manifest_key in enumerate(manifest_keys, start=1):
        events.extend(read_batch(client, bucket=bucket, manifest_key=manifest_key))
        if progress:
            progress(done, len(manifest_keys))
    rows_read = len(events)
    events = [event for event in events if datetime.fromisoformat(event["decided_at"]) >= since]
    events.sort(key=lambda event: event["outbox_id"])
    standing: dict[tuple[str, int], dict | None] = {}
    for event in events:
        key = (event["transaction_id"], event["label_version"])
        standing[key] = event if event["record_type"] == "label" else None
    current: dict[str, dict] = {}
    for (transaction_id, version), event in standing.items():
        if event is None:
            continue
        best = current.get(transaction_id)
        if best is None or version > best["label_version"]:
            current[transaction_id] = event
    rows = []
    for transaction_id in sorted(current):
        row = dict(current[transaction_id])
        row.pop("record_type", None)
        rows.append(row)
    return TrainingSet(rows=rows, batches_read=len(manifest_keys), rows_read=rows_read)
