"""An attachment uploaded while S3 is out of reach: a clear refusal, not a server error, on the
page (a message, the case page as it was) and in the API (503 problem details
`storage_unavailable` with Retry-After), and nothing half-written: no row, no event but the
refusal, nothing in S3. The S3 endpoint is pointed at a closed port of this machine."""

from __future__ import annotations

import socket

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from cases.api.models import IdempotentRequest
from cases.models import Attachment, AuditAction, AuditEvent, Case
from cases.tests.api_fixtures import assert_problem, token_client
from cases.tests.workflow_fixtures import make_case, make_queue, make_user
from conftest import client_for

pytestmark = pytest.mark.django_db


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"  # closed again: connections are refused


@pytest.fixture
def world(settings, bucket):
    settings.FRAUDCASE_ATTACHMENTS_BUCKET = bucket
    analyst = make_user("ana", "analyst")
    case = make_case(make_queue("General", analyst, is_default=True))
    return analyst, case


@pytest.fixture
def s3_down(settings):
    real = settings.FRAUDCASE_S3_ENDPOINT_URL
    settings.FRAUDCASE_S3_ENDPOINT_URL = closed_port_url()

    def back() -> None:
        settings.FRAUDCASE_S3_ENDPOINT_URL = real

    return back


def stored_keys(s3, bucket: str) -> list[str]:
    return [item["Key"] for item in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]


def assert_nothing_written(s3, bucket: str, case: Case) -> None:
    assert not Attachment.objects.exists()
    assert stored_keys(s3, bucket) == []
    after = Case.objects.get(pk=case.pk)
    assert (after.version, after.updated_at) == (case.version, case.updated_at)
    assert not AuditEvent.objects.filter(action=AuditAction.ATTACHMENT_ADDED).exists()
    refusal = AuditEvent.objects.get(action=AuditAction.REFUSED)
    assert (refusal.after["attempted"], refusal.after["error"]) == (
        "case_attach_file",
        "storage_unavailable",
    )


def test_the_page_says_the_file_store_is_out_of_reach_and_keeps_the_case_as_it_was(
    s3, bucket, world, s3_down
):
    analyst, case = world
    client = client_for(analyst)
    url = reverse("case-attach", args=[case.reference])

    response = client.post(
        url, {"file": SimpleUploadedFile("statement.txt", b"the customer said")}, follow=True
    )

    assert response.status_code == 200
    assert response.redirect_chain == [(f"/cases/{case.reference}/#attachments", 302)]
    [message] = [str(m) for m in response.context["messages"]]
    assert message == (
        "The file store (S3) is out of reach, so statement.txt was not attached and nothing "
        "was saved. Try again in a minute."
    )
    assert b"Attach a file" in response.content  # the form is there to try again
    s3_down()
    assert_nothing_written(s3, bucket, case)

    again = client.post(url, {"file": SimpleUploadedFile("statement.txt", b"the customer said")})
    assert again.status_code == 302 and Attachment.objects.count() == 1


def test_the_api_answers_503_storage_unavailable_with_retry_after_and_acts_on_the_retry(
    s3, bucket, world, s3_down
):
    analyst, case = world
    client = token_client(analyst)
    url = f"/api/v1/cases/{case.reference}/attachments/"
    etag = client.get(f"/api/v1/cases/{case.reference}/")["ETag"]

    def upload():
        return client.post(
            url, {"file": SimpleUploadedFile("statement.txt", b"the customer said")},
            HTTP_IF_MATCH=etag, HTTP_IDEMPOTENCY_KEY="upload-1",
        )  # fmt: skip

    refused = upload()

    body = assert_problem(refused, 503, "storage_unavailable")
    assert body["title"] == "Service unavailable"
    assert "statement.txt was not attached and nothing was saved" in body["detail"]
    assert refused["Retry-After"] == "30"
    assert not IdempotentRequest.objects.exists()  # a refusal is not remembered
    s3_down()
    assert_nothing_written(s3, bucket, case)

    retried = upload()  # the same key once S3 is back: acts, not a replay of the 503

    assert retried.status_code == 201 and "Idempotent-Replayed" not in retried
    assert Attachment.objects.count() == 1
