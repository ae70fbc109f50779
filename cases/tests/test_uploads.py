"""Case attachments through the real attach view, the embedded S3 server and Django's multipart
parser: the name's extension must agree with the content, and an over-limit file is refused
while it streams, with its size in the message, leaving nothing in S3 and no row behind."""

from __future__ import annotations

import io
import re
import struct
import zlib

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.files.uploadhandler import StopUpload, TemporaryFileUploadHandler
from django.http.multipartparser import MultiPartParser
from django.test import Client
from django.test.client import BOUNDARY, MULTIPART_CONTENT, encode_multipart
from django.urls import reverse

from cases.models import Attachment, AuditAction, AuditEvent
from cases.tests.workflow_fixtures import make_case, make_queue, make_user
from cases.workflow.uploads import FORM_ROOM_BYTES, AttachmentSizeLimit
from conftest import client_for

pytestmark = pytest.mark.django_db


def png_bytes() -> bytes:
    """A real 1x1 PNG."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\xff\x00\x00")
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


SVG_TAIL = b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>'


@pytest.fixture
def attach(settings, s3, bucket):
    """Post a file to a fresh case's attach view as a member analyst; returns a helper."""
    settings.FRAUDCASE_ATTACHMENTS_BUCKET = bucket  # empty: what a test finds there, it stored
    analyst = make_user("ana", "analyst")
    case = make_case(make_queue("General", analyst, is_default=True))
    client = client_for(analyst)

    class Attach:
        def __init__(self):
            self.case, self.client, self.analyst = case, client, analyst
            self.url = reverse("case-attach", args=[case.reference])

        def post(self, name: str, content: bytes, content_type: str = "application/octet-stream"):
            return client.post(
                self.url, {"file": SimpleUploadedFile(name, content, content_type)}, follow=True
            )

        def stored_keys(self) -> list[str]:
            listing = s3.list_objects_v2(
                Bucket=settings.FRAUDCASE_ATTACHMENTS_BUCKET,
                Prefix=f"cases/{case.reference}/attachments/",
            )
            return [item["Key"] for item in listing.get("Contents", [])]

    return Attach()


def messages_in(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


# --- extension against content -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("photo.png", b"<html><body><script>alert(1)</script></body></html>",
         "the file's content is not image/png: it is HTML or XML"),
        ("photo.png", b"%PDF-1.7\n%%EOF", "the file's content is not image/png: it is a PDF"),
        ("logo.svg", png_bytes() + SVG_TAIL,
         "'.svg' files are not accepted; allowed: .pdf, .png, .jpg, .jpeg, .txt, .csv"),
        ("page.html", b"<p>hello</p>", "'.html' files are not accepted"),
        ("page.htm", b"hello", "'.htm' files are not accepted"),
        ("app.js", b"alert(1)", "'.js' files are not accepted"),
        ("README", b"hello", "a file without an extension is not accepted"),
        ("scan.jpg", png_bytes(), "the file's content is not image/jpeg: it is a PNG image"),
        ("notes.txt", b"<html><body>hi</body></html>", "the file starts like HTML, SVG or XML"),
        ("notes.txt", b"\xef\xbb\xbf \r\n\t<!DOCTYPE html>\n<p>x</p>", "starts like HTML"),
        ("notes.txt", b"  <SCRIPT>alert(1)</SCRIPT>", "starts like HTML"),
        ("rows.csv", SVG_TAIL, "starts like HTML, SVG or XML"),
        ("rows.csv", b'<?xml version="1.0"?><x/>', "starts like HTML, SVG or XML"),
        ("rows.csv", b"<!--x-->a,b\n", "starts like HTML, SVG or XML"),
        ("notes.txt", b"plain\x00text", "the file has NUL bytes: it is binary, not text/plain"),
        ("notes.txt", png_bytes(), "the file's content is not text/plain: it is a PNG image"),
    ],
    ids=[
        "html-as-png", "pdf-as-png", "png-with-svg-tail-as-svg", "html", "htm", "js",
        "no-extension", "png-as-jpg", "html-as-txt", "bom-whitespace-doctype-as-txt",
        "script-as-txt", "svg-as-csv", "xml-as-csv", "comment-as-csv", "nul-as-txt", "png-as-txt",
    ],
)  # fmt: skip
def test_a_file_whose_content_disagrees_with_its_extension_is_refused(
    attach, name, content, message
):
    response = attach.post(name, content, content_type="image/png")

    assert response.status_code == 200
    assert len(messages_in(response)) == 1 and message in messages_in(response)[0]
    assert not Attachment.objects.exists()
    assert attach.stored_keys() == []
    refusal = AuditEvent.objects.get(action=AuditAction.REFUSED)
    assert refusal.after["attempted"] == "case_attach_file"


def test_text_that_only_mentions_markup_later_is_accepted_as_text(attach):
    body = b"transaction_id,merchant\ntx_1,<script>alert(1)</script>\n"

    response = attach.post("rows.CSV", body, content_type="text/html")

    assert messages_in(response) == ["Attached rows.CSV."]
    attachment = Attachment.objects.get()
    assert (attachment.filename, attachment.content_type) == ("rows.csv", "text/csv")


def test_the_stored_type_comes_from_the_content_and_the_download_is_never_sniffed(attach, s3):
    png = png_bytes() + SVG_TAIL  # a polyglot is still only ever served as a PNG download

    uploaded = attach.post("evidence.png", png, content_type="image/svg+xml")
    attachment = Attachment.objects.get()
    download = attach.client.get(
        reverse("case-attachment-download", args=[attach.case.reference, attachment.pk])
    )

    assert messages_in(uploaded) == ["Attached evidence.png."]
    assert attachment.content_type == "image/png"
    stored = s3.get_object(Bucket=attachment.s3_bucket, Key=attachment.s3_key)
    assert stored["ContentType"] == "image/png"
    assert download["Content-Type"] == "image/png"
    assert download["Content-Disposition"] == 'attachment; filename="evidence.png"'
    assert download["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in download["Content-Security-Policy"]
    assert b"".join(download.streaming_content) == png


def test_a_long_name_keeps_its_extension(attach):
    attach.post("a" * 300 + ".pdf", b"%PDF-1.7\n%%EOF")

    filename = Attachment.objects.get().filename
    assert filename == "a" * 196 + ".pdf" and len(filename) == 200


# --- size, while streaming ---------------------------------------------------------------------


def test_a_file_over_the_limit_is_refused_with_its_exact_size_and_nothing_is_stored(
    attach, settings
):
    settings.FRAUDCASE_ATTACHMENT_MAX_BYTES = 100_000

    response = attach.post("big.csv", b"a,b\n" * 40_000)  # 160,000 bytes

    assert messages_in(response) == [
        "the file is 156.2 KB (160,000 bytes); attachments are at most 97.7 KB (100,000 bytes)"
    ]
    assert not Attachment.objects.exists()
    assert attach.stored_keys() == []
    assert (
        AuditEvent.objects.get(action=AuditAction.REFUSED)
        .after["message"]
        .startswith("the file is 156.2 KB")
    )


def test_a_file_at_the_limit_is_accepted(attach, settings):
    settings.FRAUDCASE_ATTACHMENT_MAX_BYTES = 100_000

    response = attach.post("edge.csv", b"a,b\n" * 25_000)

    assert messages_in(response) == ["Attached edge.csv."]
    assert Attachment.objects.get().size_bytes == 100_000
    assert len(attach.stored_keys()) == 1


class CountingBody(io.RawIOBase):
    """A multipart body generated as it is read (never held whole), counting what was read."""

    def __init__(self, file_bytes: int) -> None:
        self.head = (
            f"--{BOUNDARY}\r\n"
            'Content-Disposition: form-data; name="file"; filename="huge.csv"\r\n'
            "Content-Type: text/csv\r\n\r\n"
        ).encode()
        self.tail = f"\r\n--{BOUNDARY}--\r\n".encode()
        self.file_bytes = file_bytes
        self.length = len(self.head) + file_bytes + len(self.tail)
        self.position = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        size = min(len(buffer), self.length - self.position)
        chunk = self._slice(self.position, self.position + size)
        buffer[: len(chunk)] = chunk
        self.position += len(chunk)
        return len(chunk)

    def _slice(self, start: int, end: int) -> bytes:
        head_end, file_end = len(self.head), len(self.head) + self.file_bytes
        parts = []
        if start < head_end:
            parts.append(self.head[start : min(end, head_end)])
        if end > head_end and start < file_end:
            parts.append(b"x" * (min(end, file_end) - max(start, head_end)))
        if end > file_end:
            parts.append(self.tail[max(start, file_end) - file_end : end - file_end])
        return b"".join(parts)


def test_a_huge_declared_upload_is_refused_without_reading_it(attach, settings):
    settings.FRAUDCASE_ATTACHMENT_MAX_BYTES = 100_000
    body = CountingBody(file_bytes=5 * 1024**3)  # 5 GB, never generated

    refused = attach.client.generic(
        "POST", attach.url, CONTENT_TYPE=MULTIPART_CONTENT,
        CONTENT_LENGTH=str(body.length), **{"wsgi.input": io.BufferedReader(body)},
    )  # fmt: skip
    response = attach.client.get(refused["Location"])

    assert messages_in(response) == [
        f"the upload is 5.0 GB ({body.length:,} bytes); attachments are at most 97.7 KB "
        "(100,000 bytes)"
    ]
    assert body.position < 1024 * 1024  # a few read-ahead chunks, not the file
    assert not Attachment.objects.exists()
    assert attach.stored_keys() == []


def parse(body: bytes, *handlers) -> tuple:
    meta = {"CONTENT_TYPE": MULTIPART_CONTENT, "CONTENT_LENGTH": str(len(body))}
    return MultiPartParser(meta, io.BytesIO(body), list(handlers)).parse()


class TemporaryFileCounted(TemporaryFileUploadHandler):
    """Django's handler for big uploads, noting how many bytes it was given to write."""

    written = 0

    def receive_data_chunk(self, raw_data, start):
        self.written += len(raw_data)
        return super().receive_data_chunk(raw_data, start)


def test_the_handler_passes_on_no_byte_past_the_limit_and_counts_the_rest():
    limit, temporary = AttachmentSizeLimit(max_bytes=100_000), TemporaryFileCounted()
    body = encode_multipart(
        BOUNDARY, {"note": "x", "file": SimpleUploadedFile("big.csv", b"y" * 150_000)}
    )

    post, files = parse(body, limit, temporary)

    assert post["note"] == "x" and "file" not in files
    assert limit.received_bytes == 150_000
    assert 0 < temporary.written == limit.passed_on_bytes <= 100_000
    assert limit.refusal.startswith("the file is 146.5 KB (150,000 bytes)")


def test_the_handler_without_a_declared_length_stops_at_the_limit():
    limit = AttachmentSizeLimit(max_bytes=100)
    limit.handle_raw_input(None, {}, None, b"boundary")
    limit.new_file("file", "big.csv", "text/csv", None)

    assert limit.receive_data_chunk(b"z" * 100, 0) == b"z" * 100
    with pytest.raises(StopUpload) as stopped:
        limit.receive_data_chunk(b"z", 100)

    assert stopped.value.connection_reset
    assert limit.refusal == "the file is more than 100 bytes; attachments are at most 100 bytes"


def test_a_declared_length_within_room_is_read_and_one_beyond_is_not():
    within = AttachmentSizeLimit(max_bytes=1000)
    within.handle_raw_input(None, {}, 1000 + FORM_ROOM_BYTES, b"boundary")
    within.new_file("file", "a.csv", "text/csv", None)
    beyond = AttachmentSizeLimit(max_bytes=1000)
    beyond.handle_raw_input(None, {}, 1001 + FORM_ROOM_BYTES, b"boundary")

    with pytest.raises(StopUpload):
        beyond.new_file("file", "a.csv", "text/csv", None)

    assert within.refusal == ""
    assert re.fullmatch(r"the upload is 65\.0 KB \(66,537 bytes\); .*", beyond.refusal)


# --- order of checks and CSRF --------------------------------------------------------------------


def test_someone_who_may_not_attach_gets_403_before_the_body_is_read(attach, settings):
    settings.FRAUDCASE_ATTACHMENT_MAX_BYTES = 100_000
    auditor = make_user("audrey", "auditor")  # reads the case, works none
    outsider = make_user("olga", "analyst")  # not in the case's queue: it does not exist for her

    for user, status, message in (
        (auditor, 403, "audrey may not attach files"),
        (outsider, 404, f"There is no case {attach.case.reference}"),
    ):
        body = CountingBody(file_bytes=5 * 1024**3)
        response = client_for(user).generic(
            "POST", attach.url, CONTENT_TYPE=MULTIPART_CONTENT,
            CONTENT_LENGTH=str(body.length), **{"wsgi.input": io.BufferedReader(body)},
        )  # fmt: skip

        assert response.status_code == status
        assert message in response.content.decode()
        assert body.position == 0
    assert AuditEvent.objects.filter(action=AuditAction.PERMISSION_DENIED).count() == 2


def test_the_csrf_check_still_guards_the_attach_view(attach, settings):
    settings.FRAUDCASE_ATTACHMENT_MAX_BYTES = 100_000
    client = Client(enforce_csrf_checks=True)
    client.cookies = attach.client.cookies
    page = client.get(reverse("case-detail", args=[attach.case.reference]))
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.content.decode())[1]

    forged = client.post(attach.url, {"file": SimpleUploadedFile("a.txt", b"hello")})
    too_big = client.post(
        attach.url,
        {"csrfmiddlewaretoken": token, "file": SimpleUploadedFile("b.txt", b"z" * 120_000)},
        follow=True,
    )
    accepted = client.post(
        attach.url,
        {"csrfmiddlewaretoken": token, "file": SimpleUploadedFile("c.txt", b"hello")},
        follow=True,
    )

    assert forged.status_code == 403 and "CSRF" in forged.content.decode()
    assert messages_in(too_big) == [
        "the file is 117.2 KB (120,000 bytes); attachments are at most 97.7 KB (100,000 bytes)"
    ]
    assert messages_in(accepted) == ["Attached c.txt."]
    assert list(Attachment.objects.values_list("filename", flat=True)) == ["c.txt"]
