"""What analysts add to a case: notes, tags and attachments (stored in S3 under the case)."""

from __future__ import annotations

import hashlib
import re
import uuid

from django.conf import settings
from django.db import transaction

from cases.audit.trail import audit_record, refusals_audited
from cases.errors import InvalidInput
from cases.locking import conflicts_retried
from cases.models import Attachment, AuditAction, Case, Note, Tag, parse_case_reference
from cases.s3 import ensure_bucket, s3_client
from cases.watchers.services import note_notify
from cases.workflow.services.common import (
    lock_case,
    lock_cases_checked,
    require_can_work,
    save_case,
    touch_case,
)

MAX_NOTE_LENGTH = 20_000
TAG_PATTERN = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
# Accepted attachment types, each with the bytes its content must start with (None: text).
ATTACHMENT_TYPES: dict[str, tuple[bytes, ...] | None] = {
    "application/pdf": (b"%PDF-",),
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/jpeg": (b"\xff\xd8\xff",),
    "text/plain": None,
    "text/csv": None,
}
# A file's name decides its type and its content must agree; nothing else is accepted.
ATTACHMENT_EXTENSIONS = {
    ".pdf": "application/pdf",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".txt": "text/plain",
    ".csv": "text/csv",
}
TYPE_NAMES = {"application/pdf": "a PDF", "image/png": "a PNG image", "image/jpeg": "a JPEG image"}
# What makes a browser take a body for HTML or SVG (the WHATWG MIME sniffing patterns, after
# leading whitespace, plus XML and SVG), lower-cased; each must be followed by a space or ">".
MARKUP_TAGS = (
    "<!doctype html", "<html", "<head", "<script", "<iframe", "<h1", "<div", "<font",
    "<table", "<a", "<style", "<title", "<b", "<body", "<br", "<p", "<!--", "<svg", "<?xml",
)  # fmt: skip
MARKUP_WHITESPACE = "\t\n\x0c\r "
SAFE_FILENAME = re.compile(r"[^A-Za-z0-9._-]+")


@conflicts_retried
def case_add_note(*, actor, case_id, body: str, expected_version: int | None = None) -> Note:
    """Add a note (Markdown source) with its author and time; notes never conflict.

    @username notifies that person in the app when they may read the case, and followers
    hear of the note (cases.watchers.services.note_notify); the note's .notices says who.
    The NOTE_ADDED event lists who was mentioned and notified, when anyone was."""
    with refusals_audited(
        actor=actor, attempted="case_add_note", object_type="cases.case", object_id=case_id
    ):
        with transaction.atomic():
            case = lock_case(case_id, expected_version)
            require_can_work(actor, case, attempted="add notes")
            body = (body or "").strip()
            if not body:
                raise InvalidInput("a note cannot be empty")
            if len(body) > MAX_NOTE_LENGTH:
                raise InvalidInput(f"a note is at most {MAX_NOTE_LENGTH} characters")
            note = Note(case=case, author=actor, author_name=actor.get_username(), body=body)
            note.full_clean()
            note.save()
            note.notices = note_notify(actor=actor, case=case, note=note)
            touch_case(case)
            after = {"note_id": note.pk, "body": body}
            if note.notices.mentioned:
                after["mentioned"] = note.notices.mentioned
            if note.notices.followers:
                after["followers_notified"] = note.notices.followers
            audit_record(actor=actor, action=AuditAction.NOTE_ADDED, obj=case, after=after)
            return note


@conflicts_retried
def case_set_tags(
    *,
    actor,
    case_id,
    add: list[str] = (),
    remove: list[str] = (),
    expected_version: int | None = None,
) -> Case:
    """Add and remove tags (lower-case words, digits, - and _); unknown tags are created."""
    with refusals_audited(
        actor=actor, attempted="case_set_tags", object_type="cases.case", object_id=case_id
    ):
        with transaction.atomic():
            case = lock_case(case_id, expected_version)
            require_can_work(actor, case, attempted="tag the case")
            add = [name.strip().lower() for name in add if name.strip()]
            remove = [name.strip().lower() for name in remove if name.strip()]
            bad = [name for name in add if not TAG_PATTERN.fullmatch(name)]
            if bad:
                raise InvalidInput(
                    f"tag(s) {', '.join(map(repr, bad))} must be lower-case letters, digits, - or _ "
                    "(at most 64 characters)"
                )
            before = sorted(case.tags.values_list("name", flat=True))
            for name in add:
                case.tags.add(Tag.objects.get_or_create(name=name)[0])
            case.tags.remove(*Tag.objects.filter(name__in=remove))
            after = sorted(case.tags.values_list("name", flat=True))
            if after != before:
                save_case(case, [])  # tags are the case's own: older copies are stale
                audit_record(
                    actor=actor, action=AuditAction.CASE_TAGGED, obj=case,
                    before={"tags": before}, after={"tags": after},
                )  # fmt: skip
            return case


@conflicts_retried
def cases_bulk_tag(*, actor, case_ids: list, add: list[str]) -> list[Case]:
    """Add tags to each case: all of them or none (the cases locked first, in the house order)."""
    with transaction.atomic():
        ids = sorted({parse_case_reference(case_id) for case_id in case_ids})
        lock_cases_checked([(case_id, None) for case_id in ids])
        return [case_set_tags(actor=actor, case_id=case_id, add=add) for case_id in ids]


def _check_attachment(filename: str, content: bytes) -> tuple[str, str]:
    """The safe file name and the content type of an acceptable attachment, else InvalidInput.

    The extension must be one of ATTACHMENT_EXTENSIONS and the content must be what it names:
    PDF, PNG and JPEG by their first bytes; text and CSV as UTF-8 without NUL bytes and not
    starting like HTML, SVG or XML (a browser could take it for a page).
    """
    max_bytes = settings.FRAUDCASE_ATTACHMENT_MAX_BYTES
    if not content:
        raise InvalidInput("the file is empty")
    if len(content) > max_bytes:
        raise InvalidInput(f"the file is {len(content)} bytes; at most {max_bytes} are accepted")
    base = filename.rsplit("/", 1)[-1].rsplit("\\", 1)[-1]
    stem, dot, extension = SAFE_FILENAME.sub("_", base).strip("._").rpartition(".")
    extension = f".{extension.lower()}" if dot else ""
    content_type = ATTACHMENT_EXTENSIONS.get(extension)
    if content_type is None:
        named = f"{extension!r} files are" if extension else "a file without an extension is"
        raise InvalidInput(f"{named} not accepted; allowed: {', '.join(ATTACHMENT_EXTENSIONS)}")
    signatures = ATTACHMENT_TYPES[content_type]
    looks_like = _binary_type(content)
    if signatures is not None:
        if not content.startswith(signatures):
            seen = TYPE_NAMES.get(looks_like) or ("HTML or XML" if _is_markup(content) else "")
            raise InvalidInput(
                f"the file's content is not {content_type}" + (f": it is {seen}" if seen else "")
            )
    else:
        _check_text(content, content_type, looks_like)
    stem = stem.strip("._")[: 200 - len(extension)] or "attachment"
    return stem + extension, content_type


def _binary_type(content: bytes) -> str:
    for content_type, signatures in ATTACHMENT_TYPES.items():
        if signatures is not None and content.startswith(signatures):
            return content_type
    return ""


def _check_text(content: bytes, content_type: str, looks_like: str) -> None:
    if looks_like:
        raise InvalidInput(
            f"the file's content is not {content_type}: it is {TYPE_NAMES[looks_like]}"
        )
    if b"\x00" in content:
        raise InvalidInput(f"the file has NUL bytes: it is binary, not {content_type}")
    try:
        content.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInput(f"the file is not UTF-8 text, as {content_type} must be") from None
    if _is_markup(content):
        raise InvalidInput(
            f"the file starts like HTML, SVG or XML, which a browser could open as a page; "
            f"{content_type} attachments must be plain text"
        )


def _is_markup(content: bytes) -> bool:
    """Whether the content starts (after a BOM and whitespace) the way HTML, SVG or XML does."""
    start = content[:1024].decode("utf-8", errors="replace").removeprefix("\ufeff")
    start = start.lstrip(MARKUP_WHITESPACE).lower()
    return any(
        start.startswith(tag)
        and (tag in ("<!--", "<?xml") or start[len(tag) : len(tag) + 1] in (" ", ">"))
        for tag in MARKUP_TAGS
    )


def case_attach_file(
    *,
    actor,
    case_id,
    filename: str,
    content: bytes,
    content_type: str = "",
    expected_version: int | None = None,
) -> Attachment:
    """Store a checked file in S3 under the case and record it (size, type and content checked).

    content_type is what the client claimed and is not trusted: the stored type is the one the
    file's extension names, once the content is found to be that type (_check_attachment).
    """
    with refusals_audited(
        actor=actor, attempted="case_attach_file", object_type="cases.case", object_id=case_id
    ):
        with transaction.atomic():
            case = lock_case(case_id, expected_version)
            require_can_work(actor, case, attempted="attach files")
            safe_name, content_type = _check_attachment(filename, content)
            bucket = settings.FRAUDCASE_ATTACHMENTS_BUCKET
            key = f"cases/{case.reference}/attachments/{uuid.uuid4().hex}-{safe_name}"
            digest = hashlib.sha256(content).hexdigest()
            client = s3_client()
            ensure_bucket(client, bucket)
            client.put_object(
                Bucket=bucket, Key=key, Body=content, ContentType=content_type,
                ChecksumSHA256=_b64_sha256(content),  # S3 checks what it stored
            )  # fmt: skip
            attachment = Attachment.objects.create(
                case=case, uploaded_by=actor, uploaded_by_name=actor.get_username(),
                filename=safe_name, content_type=content_type, size_bytes=len(content),
                sha256=digest, s3_bucket=bucket, s3_key=key,
            )  # fmt: skip
            touch_case(case)
            audit_record(
                actor=actor, action=AuditAction.ATTACHMENT_ADDED, obj=case,
                after={"attachment_id": attachment.pk, "filename": safe_name, "sha256": digest,
                       "size_bytes": len(content), "s3_key": key},
            )  # fmt: skip
            return attachment


def _b64_sha256(content: bytes) -> str:
    import base64

    return base64.b64encode(hashlib.sha256(content).digest()).decode()
