"""Anchors: the audit chain's head written to object storage, outside the database's reach.

Whoever holds the database's credentials could rewrite the trail and rehash the chain, or cut
its tail: the chain alone then still verifies. Each anchor is a small JSON document (event id,
hash, time, how many events up to it) written once to a deterministic key in a separate bucket,
under S3 Object Lock where the store has it, and signed with HMAC-SHA256 when a key is set
(FRAUDCASE_AUDIT_ANCHOR_HMAC_KEY, which the database never sees). audit_anchors_verify compares
the database with every anchor: a missing anchored event (truncation), a different hash (a
rehashed chain), a different count, or a bad signature are all caught.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from botocore.exceptions import ClientError
from django.conf import settings
from django.db import connection
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from cases.audit.trail import audit_record
from cases.models import AuditAction, AuditEvent
from cases.s3 import s3_client

ANCHOR_PREFIX = "anchors/"
ANCHOR_OBJECT_TYPE = "cases.auditevent"


def anchor_key(event_id: int) -> str:
    """Zero-padded so keys list in chain order."""
    return f"{ANCHOR_PREFIX}{event_id:020d}.json"


def anchor_signature(document: dict, key: str | None = None) -> str | None:
    """HMAC-SHA256 (hex) over the document without its hmac, in canonical JSON; None unkeyed."""
    key = settings.FRAUDCASE_AUDIT_ANCHOR_HMAC_KEY if key is None else key
    if not key:
        return None
    content = {name: value for name, value in document.items() if name != "hmac"}
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"))
    return hmac.new(key.encode(), canonical.encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class AnchorResult:
    key: str
    event_id: int
    created: bool  # False: this head was anchored already (by an earlier or concurrent run)
    object_lock: bool


def audit_anchor(*, actor, s3=None) -> AnchorResult | None:
    """Anchor the chain's current head in the audit bucket and record AUDIT_ANCHORED.

    Idempotent: the key follows from the head's id and an anchor is never overwritten
    (If-None-Match, and Object Lock in compliance mode where the bucket has it), so a second
    run for the same head writes and records nothing. Returns None when there is nothing new
    to anchor: an empty trail, or nothing recorded since the last anchor's own event.
    """
    head = AuditEvent.objects.order_by("-id").first()
    if head is None or head.action == AuditAction.AUDIT_ANCHORED:
        return None
    document = {
        "event_id": head.pk,
        "hash": head.hash,
        "occurred_at": head.occurred_at.isoformat(),
        "anchored_at": timezone.now().isoformat(),
        "count": AuditEvent.objects.filter(id__lte=head.pk).count(),
    }
    document["hmac"] = anchor_signature(document)
    client = s3 or s3_client()
    bucket = settings.FRAUDCASE_AUDIT_BUCKET
    locked = ensure_audit_bucket(client, bucket)
    key = anchor_key(head.pk)
    body = json.dumps(document, sort_keys=True, indent=1).encode()
    if not _put_once(client, bucket, key, body, locked=locked):
        return AnchorResult(key=key, event_id=head.pk, created=False, object_lock=locked)
    audit_record(
        actor=actor,
        action=AuditAction.AUDIT_ANCHORED,
        object_type=ANCHOR_OBJECT_TYPE,
        object_id=head.pk,
        object_repr=key,
        after={
            "bucket": bucket, "key": key, "event_id": head.pk, "hash": head.hash,
            "count": document["count"], "object_lock": locked, "signed": bool(document["hmac"]),
        },
    )  # fmt: skip
    return AnchorResult(key=key, event_id=head.pk, created=True, object_lock=locked)


def ensure_audit_bucket(client, bucket: str) -> bool:
    """Create the bucket (with Object Lock where the store allows) unless it exists; returns
    whether Object Lock is enabled on it."""
    try:
        client.head_bucket(Bucket=bucket)
    except ClientError as exc:
        if _code(exc) not in ("404", "NoSuchBucket", "NotFound"):
            raise
        try:
            client.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
        except ClientError as refused:
            if _code(refused) in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                pass  # created by a concurrent run
            else:  # a store without Object Lock: anchors still write once, unlocked
                client.create_bucket(Bucket=bucket)
    try:
        config = client.get_object_lock_configuration(Bucket=bucket)
    except ClientError:  # ObjectLockConfigurationNotFoundError, NotImplemented, ...
        return False
    return config.get("ObjectLockConfiguration", {}).get("ObjectLockEnabled") == "Enabled"


def _put_once(client, bucket: str, key: str, body: bytes, *, locked: bool) -> bool:
    """Write the object unless the key exists; False when it did."""
    extra = {}
    if locked:
        days = settings.FRAUDCASE_AUDIT_ANCHOR_RETENTION_DAYS
        extra = {
            "ObjectLockMode": "COMPLIANCE",
            "ObjectLockRetainUntilDate": timezone.now() + timedelta(days=days),
        }
    put = {"Bucket": bucket, "Key": key, "Body": body, "ContentType": "application/json", **extra}
    try:
        client.put_object(IfNoneMatch="*", **put)
        return True
    except ClientError as exc:
        if _code(exc) in ("PreconditionFailed", "412", "ConditionalRequestConflict"):
            return False
        if _code(exc) not in ("NotImplemented", "501"):
            raise
    # A store without conditional writes: look first (a race here writes the same head twice).
    try:
        client.head_object(Bucket=bucket, Key=key)
        return False
    except ClientError as exc:
        if _code(exc) not in ("404", "NoSuchKey", "NotFound"):
            raise
    client.put_object(**put)
    return True


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


# --- verification ---------------------------------------------------------------------------


@dataclass
class AnchorReport:
    """What comparing the trail with the anchors found: problems break it, warnings do not."""

    anchors_checked: int = 0
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    newest_event_id: int | None = None
    newest_anchored_at: datetime | None = None

    @property
    def ok(self) -> bool:
        return not self.problems


def audit_anchors_verify(*, s3=None) -> AnchorReport:
    """Read every anchor in the audit bucket and compare it with the trail.

    Problems: an anchor whose event is missing (the tail was cut, or the event removed), whose
    hash differs (the chain was rewritten and rehashed), whose count of events up to it
    differs, whose HMAC does not verify (or is absent while a key is set), or an anchor that
    the trail says was written but is gone from the bucket. Raises botocore errors when the
    store can't be read: that is no verdict either way.
    """
    report = AnchorReport()
    client = s3 or s3_client()
    bucket = settings.FRAUDCASE_AUDIT_BUCKET
    documents = _read_anchors(client, bucket, report)
    recorded = dict(
        AuditEvent.objects.filter(action=AuditAction.AUDIT_ANCHORED).values_list("after__key", "id")
    )
    for key, event_id in sorted(recorded.items()):
        if key not in documents:
            report.problems.append(
                f"anchor {key} (recorded by event {event_id}) is missing from bucket {bucket}: "
                "anchors were removed"
            )
    if not documents:
        if not recorded:
            report.warnings.append(
                f"no anchors in bucket {bucket} yet: tail truncation and rehashing can't be "
                "detected until the first (python manage.py anchor_audit)"
            )
        return report
    anchored_ids = sorted({doc["event_id"] for doc in documents.values()})
    stored = dict(AuditEvent.objects.filter(id__in=anchored_ids).values_list("id", "hash"))
    counts = _counts_up_to(anchored_ids)
    secret = settings.FRAUDCASE_AUDIT_ANCHOR_HMAC_KEY
    unsigned_checked = False
    for key, doc in sorted(documents.items()):
        report.anchors_checked += 1
        event_id = doc["event_id"]
        where = f"anchor {key} (event {event_id}, anchored {doc.get('anchored_at')})"
        if secret:
            expected = anchor_signature(doc, secret)
            if not doc.get("hmac") or not hmac.compare_digest(str(doc["hmac"]), expected):
                report.problems.append(f"{where}: its HMAC does not verify: forged or altered")
                continue
        elif doc.get("hmac"):
            unsigned_checked = True
        if event_id not in stored:
            report.problems.append(
                f"{where}: event {event_id} is missing: the trail was truncated or it was removed"
            )
        elif stored[event_id] != doc["hash"]:
            report.problems.append(
                f"{where}: event {event_id}'s hash differs from the anchored one: the chain was "
                "rewritten and rehashed"
            )
        elif counts[event_id] != doc["count"]:
            report.problems.append(
                f"{where}: {counts[event_id]} event(s) up to it now, {doc['count']} when "
                "anchored: events were removed or inserted"
            )
    if unsigned_checked:
        report.warnings.append(
            "anchors are signed but FRAUDCASE_AUDIT_ANCHOR_HMAC_KEY is not set: signatures "
            "not checked"
        )
    newest = documents[max(documents, key=lambda key: documents[key]["event_id"])]
    report.newest_event_id = newest["event_id"]
    report.newest_anchored_at = parse_datetime(str(newest.get("anchored_at")))
    _warn_when_stale(report)
    return report


def _read_anchors(client, bucket: str, report: AnchorReport) -> dict[str, dict]:
    documents: dict[str, dict] = {}
    try:
        pages = list(
            client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=ANCHOR_PREFIX)
        )
    except ClientError as exc:
        if _code(exc) in ("NoSuchBucket", "404"):
            return documents
        raise
    for page in pages:
        for item in page.get("Contents", []):
            key = item["Key"]
            body = client.get_object(Bucket=bucket, Key=key)["Body"].read()
            try:
                doc = json.loads(body)
                event_id = int(doc["event_id"])
                str(doc["hash"]), int(doc["count"])
            except (ValueError, KeyError, TypeError):
                report.problems.append(f"anchor {key} is not an anchor document: altered")
                continue
            if key != anchor_key(event_id):
                report.problems.append(f"anchor {key} names event {event_id}: altered or moved")
                continue
            documents[key] = doc
    return documents


def _counts_up_to(anchored_ids: list[int]) -> dict[int, int]:
    """How many events have id <= each anchored id, in one pass over the ids.

    width_bucket(id, thresholds) puts each event in the slot of the anchored ids below it;
    cumulative sums of the slots give the counts.
    """
    thresholds = [event_id + 1 for event_id in anchored_ids]
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT width_bucket(id, %s::bigint[]), count(*) FROM {AuditEvent._meta.db_table} "
            "WHERE id <= %s GROUP BY 1",
            [thresholds, anchored_ids[-1]],
        )
        per_slot = dict(cursor.fetchall())
    counts, running = {}, 0
    for slot, event_id in enumerate(anchored_ids):
        running += per_slot.get(slot, 0)
        counts[event_id] = running
    return counts


def _warn_when_stale(report: AnchorReport) -> None:
    """Events after the newest anchor are protected by the chain alone; say so when the
    anchoring seems to have stopped (three intervals without one while events arrived)."""
    if report.newest_anchored_at is None:
        return
    later = AuditEvent.objects.filter(id__gt=report.newest_event_id).exclude(
        action=AuditAction.AUDIT_ANCHORED
    )
    age = timezone.now() - report.newest_anchored_at
    if age.total_seconds() > 3 * settings.FRAUDCASE_AUDIT_ANCHOR_SECONDS and later.exists():
        report.warnings.append(
            f"the newest anchor is {int(age.total_seconds() // 60)} minute(s) old and events "
            "came after it: is beat's anchor-audit task running?"
        )
