"""Anchors of the audit chain in the audit bucket (the real embedded S3 server), and what
verify_audit finds when the trail is cut or rehashed behind the app's back."""

from __future__ import annotations

import io
import json
import uuid

import pytest
from botocore.exceptions import ClientError
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from cases.audit.anchors import (
    anchor_key,
    anchor_signature,
    audit_anchor,
    audit_anchors_verify,
)
from cases.audit.selectors import audit_chain_verify
from cases.audit.tasks import anchor_audit_chain
from cases.audit.trail import audit_record, event_hash, system_actor
from cases.models import AuditAction, AuditEvent

HMAC_KEY = "anchor-key-the-database-never-sees"


@pytest.fixture
def audit_bucket(settings):
    """A fresh audit bucket name; audit_anchor creates it (with Object Lock) on first use."""
    settings.FRAUDCASE_AUDIT_BUCKET = f"audit-{uuid.uuid4().hex[:16]}"
    return settings.FRAUDCASE_AUDIT_BUCKET


@pytest.fixture
def unlocked_audit_bucket(settings, bucket):
    """An existing bucket without Object Lock, as on a store that has none."""
    settings.FRAUDCASE_AUDIT_BUCKET = bucket
    return bucket


def record_notes(count: int) -> list[AuditEvent]:
    return [
        audit_record(
            actor=None, action=AuditAction.NOTE_ADDED, object_type="cases.case",
            object_id=index, after={"text": f"note {index}"},
        )
        for index in range(1, count + 1)
    ]  # fmt: skip


def read_anchor(s3, bucket: str, event_id: int) -> dict:
    return json.loads(s3.get_object(Bucket=bucket, Key=anchor_key(event_id))["Body"].read())


def verify_audit() -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("verify_audit", "--no-progress", stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def tamper(sql: str, params=None) -> None:
    """Behind the app's back, as the table's owner could (in the test's transaction)."""
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE cases_auditevent DISABLE TRIGGER USER")
        cursor.execute(sql, params)
        cursor.execute("ALTER TABLE cases_auditevent ENABLE TRIGGER USER")


# --- anchoring ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_anchor_writes_the_head_once_under_object_lock_and_records_it(s3, audit_bucket):
    notes = record_notes(3)
    head = notes[-1]

    result = audit_anchor(actor=system_actor())

    assert (result.key, result.event_id, result.created, result.object_lock) == (
        f"anchors/{head.pk:020d}.json",
        head.pk,
        True,
        True,
    )
    document = read_anchor(s3, audit_bucket, head.pk)
    assert {k: document[k] for k in ("event_id", "hash", "occurred_at", "count", "hmac")} == {
        "event_id": head.pk, "hash": head.hash, "occurred_at": head.occurred_at.isoformat(),
        "count": 3, "hmac": None,
    }  # fmt: skip
    stored = s3.head_object(Bucket=audit_bucket, Key=result.key)
    assert stored["ObjectLockMode"] == "COMPLIANCE"
    with pytest.raises(ClientError):  # compliance mode: not even the bucket's owner may delete
        s3.delete_object(Bucket=audit_bucket, Key=result.key, VersionId=stored["VersionId"])
    anchored = AuditEvent.objects.order_by("-id").first()
    assert (anchored.action, anchored.object_id, anchored.actor_name) == (
        AuditAction.AUDIT_ANCHORED,
        str(head.pk),
        "system (FraudCase system)",
    )
    assert anchored.after == {
        "bucket": audit_bucket, "key": result.key, "event_id": head.pk, "hash": head.hash,
        "count": 3, "object_lock": True, "signed": False,
    }  # fmt: skip
    # Nothing happened since: nothing to anchor, and nothing recorded.
    assert audit_anchor(actor=system_actor()) is None
    assert AuditEvent.objects.count() == 4
    assert audit_chain_verify().ok


@pytest.mark.django_db
def test_an_anchor_is_never_overwritten_on_a_store_without_object_lock(s3, unlocked_audit_bucket):
    (head,) = record_notes(1)
    first = audit_anchor(actor=system_actor())
    before = read_anchor(s3, unlocked_audit_bucket, head.pk)
    # A second run that raced the first to the same head (its event not yet visible):
    tamper("DELETE FROM cases_auditevent WHERE action = %s", [AuditAction.AUDIT_ANCHORED])

    again = audit_anchor(actor=system_actor())

    assert first.created and not first.object_lock
    assert (again.key, again.created) == (first.key, False)
    assert read_anchor(s3, unlocked_audit_bucket, head.pk) == before
    assert not AuditEvent.objects.filter(action=AuditAction.AUDIT_ANCHORED).exists()


@pytest.mark.django_db
def test_anchors_are_signed_with_the_hmac_key_and_verify(s3, audit_bucket, settings):
    settings.FRAUDCASE_AUDIT_ANCHOR_HMAC_KEY = HMAC_KEY
    record_notes(2)
    first = audit_anchor(actor=system_actor())
    record_notes(1)
    second = audit_anchor(actor=system_actor())

    document = read_anchor(s3, audit_bucket, second.event_id)
    assert document["hmac"] == anchor_signature(document, HMAC_KEY)
    assert document["count"] == 4  # three notes and the first anchor's event
    out, err = verify_audit()
    assert out.splitlines() == [
        "OK: audit trail intact, 5 event(s) checked",
        f"OK: 2 anchor(s) match, the newest at event {second.event_id} ({document['anchored_at']})",
    ]
    assert err == ""
    assert first.event_id < second.event_id


@pytest.mark.django_db
def test_the_beat_task_anchors_as_the_system_user(s3, audit_bucket):
    (head,) = record_notes(1)

    key = anchor_audit_chain.apply().get()

    assert key == anchor_key(head.pk)
    assert read_anchor(s3, audit_bucket, head.pk)["event_id"] == head.pk
    assert AuditEvent.objects.order_by("-id").first().actor_id == system_actor().pk


@pytest.mark.django_db
def test_anchor_audit_command_says_what_it_did(audit_bucket):
    (head,) = record_notes(1)
    out = io.StringIO()

    call_command("anchor_audit", stdout=out)
    call_command("anchor_audit", stdout=out)

    assert out.getvalue().splitlines() == [
        f"anchored event {head.pk} at s3://{audit_bucket}/{anchor_key(head.pk)} with Object Lock",
        "nothing to anchor: no event since the last anchor",
    ]


# --- tampering the chain alone does not show ------------------------------------------------


@pytest.mark.django_db
def test_a_cut_tail_is_caught_by_the_anchors_though_the_chain_still_verifies(s3, audit_bucket):
    notes = record_notes(5)
    anchored = audit_anchor(actor=system_actor())

    tamper("DELETE FROM cases_auditevent WHERE id >= %s", [notes[3].pk])

    assert audit_chain_verify().ok  # what is left is a perfect chain
    anchored_at = read_anchor(s3, audit_bucket, notes[4].pk)["anchored_at"]
    assert audit_anchors_verify().problems == [
        f"anchor {anchored.key} (event {notes[4].pk}, anchored {anchored_at}): event "
        f"{notes[4].pk} is missing: the trail was truncated or it was removed"
    ]
    with pytest.raises(
        CommandError, match="audit trail BROKEN: anchor anchors/.*is missing"
    ) as caught:
        verify_audit()
    assert caught.value.returncode == 1


@pytest.mark.django_db
def test_a_rewritten_and_rehashed_chain_is_caught_by_the_anchors(s3, audit_bucket):
    notes = record_notes(4)
    anchored = audit_anchor(actor=system_actor())

    # Rewrite the second note and recompute every hash after it, as a forger with the
    # database's credentials could.
    for event in AuditEvent.objects.filter(id__gte=notes[1].pk).order_by("id"):
        if event.pk == notes[1].pk:
            event.after = {"text": "nothing to see"}
        event.previous_hash = (
            AuditEvent.objects.filter(id__lt=event.pk)
            .order_by("-id")
            .values_list("hash", flat=True)
            .first()
        )
        event.hash = event_hash(event)
        tamper(
            "UPDATE cases_auditevent SET after = %s::jsonb, previous_hash = %s, hash = %s WHERE id = %s",
            [json.dumps(event.after), event.previous_hash, event.hash, event.pk],
        )

    assert audit_chain_verify().ok
    anchored_at = read_anchor(s3, audit_bucket, anchored.event_id)["anchored_at"]
    assert audit_anchors_verify().problems == [
        f"anchor {anchored.key} (event {anchored.event_id}, anchored {anchored_at}): event "
        f"{anchored.event_id}'s hash differs from the anchored one: the chain was rewritten "
        "and rehashed"
    ]
    with pytest.raises(CommandError, match="rewritten and rehashed"):
        verify_audit()


@pytest.mark.django_db
def test_events_removed_and_the_chain_rehashed_up_to_the_anchored_hash_are_counted(audit_bucket):
    notes = record_notes(3)
    anchored = audit_anchor(actor=system_actor())

    tamper("DELETE FROM cases_auditevent WHERE id = %s", [notes[0].pk])
    tamper("UPDATE cases_auditevent SET previous_hash = %s WHERE id = %s",
           ["0" * 64, notes[1].pk])  # fmt: skip

    report = audit_anchors_verify()

    # The second note's hash no longer matches its content (the chain says so); the anchor's
    # count says an event is gone even where hashes were left alone.
    assert any("2 event(s) up to it now, 3 when anchored" in p for p in report.problems), report
    assert not audit_chain_verify().ok
    assert anchored.event_id == notes[2].pk


@pytest.mark.django_db
def test_a_forged_anchor_without_the_key_is_caught(s3, audit_bucket, settings):
    settings.FRAUDCASE_AUDIT_ANCHOR_HMAC_KEY = HMAC_KEY
    (head,) = record_notes(1)
    audit_anchor(actor=system_actor())
    (later,) = record_notes(1)
    forged = {"event_id": later.pk, "hash": later.hash, "occurred_at": "x", "anchored_at": "y",
              "count": 3}  # fmt: skip
    forged["hmac"] = anchor_signature(forged, "a guessed key")
    s3.put_object(Bucket=audit_bucket, Key=anchor_key(later.pk), Body=json.dumps(forged).encode(),
                  ObjectLockMode="COMPLIANCE", ObjectLockRetainUntilDate="2030-01-01T00:00:00Z")  # fmt: skip

    report = audit_anchors_verify()

    assert report.problems == [
        f"anchor {anchor_key(later.pk)} (event {later.pk}, anchored y): its HMAC does not "
        "verify: forged or altered"
    ]
    assert report.anchors_checked == 2 and head.pk < later.pk


@pytest.mark.django_db
def test_a_removed_anchor_is_caught_from_the_trail(s3, unlocked_audit_bucket):
    record_notes(2)
    anchored = audit_anchor(actor=system_actor())

    s3.delete_object(Bucket=unlocked_audit_bucket, Key=anchored.key)

    assert audit_anchors_verify().problems == [
        f"anchor {anchored.key} (recorded by event {anchored.event_id + 1}) is missing from "
        f"bucket {unlocked_audit_bucket}: anchors were removed"
    ]


@pytest.mark.django_db
def test_verify_without_anchors_warns_and_exits_2_when_the_store_is_unreachable(
    audit_bucket, settings
):
    record_notes(2)

    out, err = verify_audit()
    assert out == "OK: audit trail intact, 2 event(s) checked\n"
    assert err.startswith(f"WARNING: no anchors in bucket {audit_bucket} yet")

    settings.FRAUDCASE_S3_ENDPOINT_URL = "http://127.0.0.1:9"  # nothing listens there
    with pytest.raises(CommandError, match="could not read the anchors") as caught:
        verify_audit()
    assert caught.value.returncode == 2
