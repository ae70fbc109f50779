"""The REST API's case actions: the pages' services behind If-Match and Idempotency-Key, every
change attributable to its token, refusals as problem details that change nothing."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from cases.api.models import IdempotentRequest
from cases.models import AuditAction, AuditEvent, Case, CaseStatus, Note
from cases.tests.api_fixtures import assert_problem, token_client
from cases.tests.workflow_fixtures import make_case, make_queue, make_reason_codes, make_user
from cases.workflow import services

pytestmark = pytest.mark.django_db


@pytest.fixture
def world():
    analyst = make_user("ana", "analyst")
    general, high_risk = make_queue("General", analyst), make_queue("High risk")
    make_reason_codes()
    return {
        "analyst": analyst,
        "lead": make_user("lea", "lead"),
        "mine": make_case(general, transactions=2),
        "theirs": make_case(high_risk, transactions=1),
        "general": general,
    }


def etag_of(client, case) -> str:
    response = client.get(f"/api/v1/cases/{case.reference}/")
    assert response.status_code == 200
    return response["ETag"]


def post(client, url, body, *, etag=None, key=None):
    headers = {}
    if etag is not None:
        headers["HTTP_IF_MATCH"] = etag
    if key is not None:
        headers["HTTP_IDEMPOTENCY_KEY"] = key
    return client.post(url, body, format="json", **headers)


def changed_since(client, mark) -> dict:
    response = client.get("/api/v1/cases/", {"updated_since": mark})
    return {case["reference"]: case for case in response.json()["results"]}


def test_sync_end_to_end(world):
    """Pull all, change on both sides, pull since; stale ETag, retries, a merge's tombstone."""
    lead, mine = world["lead"], world["mine"]
    client = token_client(lead)
    everything = client.get("/api/v1/cases/").json()["results"]
    mark = max(case["updated_at"] for case in everything)
    etag = etag_of(client, mine)

    # Our side tags the case; the pages' side adds a note to the other case.
    tagged = post(client, f"/api/v1/cases/{mine.reference}/tags/", {"add": ["ato"]}, etag=etag)
    services.case_add_note(actor=lead, case_id=world["theirs"].pk, body="called the bank")

    assert tagged.status_code == 200 and tagged.json()["tags"] == ["ato"]
    assert tagged["ETag"] == tagged.json()["etag"] != etag
    assert set(changed_since(client, mark)) == {mine.reference, world["theirs"].reference}

    # A change based on the old copy is refused with the case as it is now.
    stale = post(client, f"/api/v1/cases/{mine.reference}/transition/",
                 {"to_status": "in_review"}, etag=etag)  # fmt: skip
    body = assert_problem(stale, 412, "stale_version")
    assert body["etag"] == tagged.json()["etag"] == stale["ETag"]
    assert body["case"]["tags"] == ["ato"] and body["case"]["status"] == "open"
    assert Case.objects.get(pk=mine.pk).status == CaseStatus.OPEN

    # A retried note acts once and answers as the first time; another body is a 422.
    note_url = f"/api/v1/cases/{mine.reference}/notes/"
    etag = tagged["ETag"]
    first = post(client, note_url, {"body": "customer confirmed"}, etag=etag, key="note-1")
    retry = post(client, note_url, {"body": "customer confirmed"}, etag=etag, key="note-1")
    other = post(client, note_url, {"body": "something else"}, etag=etag, key="note-1")

    assert first.status_code == retry.status_code == 201
    assert retry.json() == first.json() and retry["Idempotent-Replayed"] == "true"
    assert Note.objects.filter(case=mine, body="customer confirmed").count() == 1
    assert_problem(other, 422, "idempotency_key_reused")
    assert IdempotentRequest.objects.get(key="note-1").response_body == first.json()
    notes = client.get(note_url).json()["results"]
    assert [note["body"] for note in notes] == ["customer confirmed"]

    # A merge through the API: the merged case syncs as a tombstone.
    target = make_case(world["general"])
    mark = timezone.now().isoformat()
    merged = post(client, f"/api/v1/cases/{mine.reference}/merge/",
                  {"target": target.reference, "justification": "same ring"},
                  etag=first.json()["case_etag"])  # fmt: skip

    assert merged.status_code == 200 and merged.json()["reference"] == target.reference
    assert [note["body"] for note in merged.json()["notes"]] == ["customer confirmed"]
    changed = changed_since(client, mark)
    assert set(changed) == {mine.reference, target.reference}
    assert (changed[mine.reference]["tombstone"], changed[mine.reference]["merged_into"]) == (
        True, target.reference,
    )  # fmt: skip


def test_a_stale_etag_on_a_transaction_is_412_with_its_case(world):
    client = token_client(world["analyst"])
    mine = world["mine"]
    tx = mine.transactions.first()
    etag = etag_of(client, mine)
    services.case_add_note(actor=world["analyst"], case_id=mine.pk, body="meanwhile")

    stale = post(client, f"/api/v1/transactions/{tx.transaction_id}/decision/",
                 {"decision": "block"}, etag=etag)  # fmt: skip

    body = assert_problem(stale, 412, "stale_version")
    assert body["case"]["reference"] == mine.reference and body["etag"] == etag_of(client, mine)
    assert [note["body"] for note in body["case"]["notes"]] == ["meanwhile"]
    assert mine.transactions.get(pk=tx.pk).decision == ""


def test_a_change_without_if_match_is_428_and_changes_nothing(world):
    client = token_client(world["analyst"])
    mine = world["mine"]

    response = post(
        client, f"/api/v1/cases/{mine.reference}/transition/", {"to_status": "in_review"}
    )

    assert_problem(response, 428, "precondition_required")
    assert Case.objects.get(pk=mine.pk).version == mine.version


def test_a_read_only_token_changes_nothing(world):
    client = token_client(world["analyst"], scope="read")
    mine = world["mine"]
    etag = etag_of(client, mine)
    events = AuditEvent.objects.count()

    refused = [
        post(client, f"/api/v1/cases/{mine.reference}/assign/", {"assignee_id": "me"}, etag=etag),
        post(client, f"/api/v1/cases/{mine.reference}/notes/", {"body": "x"}, etag=etag),
        post(client, "/api/v1/cases/claim-next/", {}),
    ]

    for response in refused:
        assert_problem(response, 403, "permission_denied")
    after = Case.objects.get(pk=mine.pk)
    assert (after.assignee_id, after.version, after.notes.count()) == (None, mine.version, 0)
    # Each refusal is in the trail, named by the token; nothing else happened.
    new = list(AuditEvent.objects.order_by("id")[events:])
    assert [event.action for event in new] == [AuditAction.PERMISSION_DENIED] * 3
    assert {event.via_token for event in new} == {client.issued.token.prefix}


def test_another_queues_case_is_a_404_and_unchanged(world):
    client = token_client(world["analyst"])
    theirs = world["theirs"]
    lead_etag = etag_of(token_client(world["lead"]), theirs)
    tx = theirs.transactions.get()

    responses = [
        post(client, f"/api/v1/cases/{theirs.reference}/assign/", {"assignee_id": "me"},
             etag=lead_etag),
        post(client, f"/api/v1/cases/{theirs.reference}/notes/", {"body": "x"}, etag=lead_etag),
        post(client, f"/api/v1/transactions/{tx.transaction_id}/decision/", {"decision": "block"},
             etag=lead_etag),
        client.get(f"/api/v1/cases/{theirs.reference}/notes/"),
    ]  # fmt: skip

    for response in responses:
        assert_problem(response, 404, "not_found")
    after = Case.objects.get(pk=theirs.pk)
    assert (after.assignee_id, after.version, after.notes.count()) == (None, theirs.version, 0)
    assert theirs.transactions.get().decision == ""
    denied = AuditEvent.objects.filter(action=AuditAction.PERMISSION_DENIED)
    assert denied.count() == 3 and {event.after["error"] for event in denied} == {"not_visible"}


def test_bad_bodies_name_each_field_and_change_nothing(world):
    client = token_client(world["analyst"])
    mine = world["mine"]
    etag = etag_of(client, mine)
    url = f"/api/v1/cases/{mine.reference}/"

    unknown = post(client, url + "close/", {"resolution": "maybe", "comment": "",
                                            "colour": "red"}, etag=etag)  # fmt: skip
    malformed = client.post(url + "tags/", "{not json", content_type="application/json",
                            HTTP_IF_MATCH=etag)  # fmt: skip
    form = client.post(url + "tags/", {"add": "ato"}, HTTP_IF_MATCH=etag)  # multipart
    half = post(client, url + "tags/", {"add": ["good", "Bad Tag!"]}, etag=etag)

    body = assert_problem(unknown, 400, "invalid_input")
    assert {error["field"] for error in body["errors"]} == {"colour"}
    fields = post(client, url + "close/", {"resolution": "maybe", "comment": ""}, etag=etag)
    assert {e["field"] for e in assert_problem(fields, 400, "invalid_input")["errors"]} == {
        "resolution", "reason_codes", "comment",
    }  # fmt: skip
    assert_problem(malformed, 400, "parse_error")
    assert_problem(form, 415, "unsupported_media_type")
    assert "must be lower-case" in assert_problem(half, 400, "invalid_input")["detail"]
    after = Case.objects.get(pk=mine.pk)
    assert (after.status, after.version, after.tags.count()) == ("open", mine.version, 0)


def test_domain_refusals_keep_their_status_and_are_audited(world):
    client = token_client(world["analyst"])
    mine = world["mine"]
    etag = etag_of(client, mine)

    closing = post(client, f"/api/v1/cases/{mine.reference}/transition/",
                   {"to_status": "escalated"}, etag=etag)  # fmt: skip
    reopen = post(client, f"/api/v1/cases/{mine.reference}/reopen/", {"reason": "x"}, etag=etag)

    assert_problem(closing, 409, "transition_not_allowed")
    assert_problem(reopen, 403, "permission_denied")
    refused = AuditEvent.objects.get(action=AuditAction.REFUSED)
    assert refused.after["attempted"] == "case_transition"
    assert refused.via_token == client.issued.token.prefix
    assert Case.objects.get(pk=mine.pk).version == mine.version


def test_claim_next_takes_the_waiting_case_once(world):
    client = token_client(world["analyst"])

    first = post(client, "/api/v1/cases/claim-next/", {}, key="claim-1")
    again = post(client, "/api/v1/cases/claim-next/", {}, key="claim-1")
    nothing = post(client, "/api/v1/cases/claim-next/", {})

    assert first.status_code == again.status_code == 200
    assert first.json()["reference"] == again.json()["reference"] == world["mine"].reference
    assert first.json()["assignee"] == "ana"
    assert nothing.status_code == 204
    assert AuditEvent.objects.filter(action=AuditAction.CASE_ASSIGNED).count() == 1


def test_attachments_upload_checked_and_download_audited(world, settings, bucket, s3):
    settings.FRAUDCASE_ATTACHMENTS_BUCKET = bucket
    settings.FRAUDCASE_ATTACHMENT_MAX_BYTES = 1000
    client = token_client(world["analyst"])
    mine = world["mine"]
    url = f"/api/v1/cases/{mine.reference}/attachments/"
    pdf = b"%PDF-1.7\n" + b"x" * 100

    def upload(name, content, etag, key=None):
        headers = {"HTTP_IF_MATCH": etag}
        if key:
            headers["HTTP_IDEMPOTENCY_KEY"] = key
        return client.post(url, {"file": SimpleUploadedFile(name, content)}, **headers)

    etag = etag_of(client, mine)
    too_big = upload("big.pdf", b"%PDF-" + b"x" * 5000, etag)
    disguised = upload("page.txt", b"<html><script>alert(1)</script>", etag)
    stored = upload("statement.pdf", pdf, etag, key="upload-1")
    retried = upload("statement.pdf", pdf, etag, key="upload-1")
    json_body = post(client, url, {"file": "x"}, etag=etag)

    assert "at most 1000 bytes" in assert_problem(too_big, 413, "request_too_large")["detail"]
    assert "HTML" in assert_problem(disguised, 400, "invalid_input")["detail"]
    assert_problem(json_body, 415, "unsupported_media_type")
    assert stored.status_code == retried.status_code == 201 and retried.json() == stored.json()
    assert mine.attachments.count() == 1
    assert stored["ETag"] == stored.json()["case_etag"] == etag_of(client, mine) != etag
    attachment = stored.json()
    assert (attachment["filename"], attachment["size_bytes"]) == ("statement.pdf", len(pdf))

    download = client.get(f"{url}{attachment['id']}/")
    other = client.get(f"/api/v1/cases/{world['theirs'].reference}/attachments/{attachment['id']}/")

    assert download.status_code == 200 and b"".join(download.streaming_content) == pdf
    assert download["Content-Type"] == "application/pdf"
    assert "attachment" in download["Content-Disposition"]
    assert_problem(other, 404, "not_found")
    [added] = AuditEvent.objects.filter(action=AuditAction.ATTACHMENT_ADDED)
    assert added.via_token == client.issued.token.prefix
    [read] = AuditEvent.objects.filter(action=AuditAction.ATTACHMENT_DOWNLOADED)
    assert read.via_token == client.issued.token.prefix
    assert read.after["attachment_id"] == attachment["id"]


ACTIONS = {
    # name: (actor, path under the case or the transaction, body, the event it writes)
    "assign": ("analyst", "assign/", {"assignee_id": "me"}, AuditAction.CASE_ASSIGNED),
    "transition": ("analyst", "transition/", {"to_status": "in_review"},
                   AuditAction.CASE_STATUS_CHANGED),
    "close": ("analyst", "close/", {"resolution": "false_positive", "comment": "fine",
                                    "reason_codes": ["customer-confirmed"]},
              AuditAction.CASE_CLOSED),
    "note": ("analyst", "notes/", {"body": "called"}, AuditAction.NOTE_ADDED),
    "tags": ("analyst", "tags/", {"add": ["ato"], "remove": []}, AuditAction.CASE_TAGGED),
    "decision": ("analyst", "decision/", {"decision": "block"}, AuditAction.TRANSACTION_DECIDED),
    "label": ("analyst", "label/", {"label": "fraud"}, AuditAction.TRANSACTION_LABELLED),
    "merge": ("lead", "merge/", {"justification": "same ring"}, AuditAction.CASE_MERGED),
    "reopen": ("lead", "reopen/", {"reason": "new evidence"}, AuditAction.CASE_REOPENED),
}  # fmt: skip


@pytest.mark.parametrize("action", list(ACTIONS))
def test_each_action_is_audited_with_its_token(world, action):
    role, path, body, event_action = ACTIONS[action]
    client = token_client(world[role])
    mine = world["mine"]
    if action == "merge":
        body = {**body, "target": make_case(world["general"]).reference}
    if action == "reopen":
        services.case_close(
            actor=world["analyst"], case_id=mine.pk, resolution="inconclusive",
            reason_codes=["insufficient-evidence"], comment="no answer",
        )  # fmt: skip
    base = (
        f"/api/v1/transactions/{mine.transactions.first().transaction_id}/"
        if action in ("decision", "label")
        else f"/api/v1/cases/{mine.reference}/"
    )

    etag = etag_of(client, mine)
    before = AuditEvent.objects.order_by("-id").values_list("id", flat=True).first()

    response = post(client, base + path, body, etag=etag)

    assert response.status_code in (200, 201), response.content[:300]
    events = AuditEvent.objects.filter(id__gt=before)
    assert events.filter(action=event_action).exists()
    assert {event.via_token for event in events} == {client.issued.token.prefix}
