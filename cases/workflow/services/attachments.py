"""Attachments: a checked file stored in S3 under its case, then recorded on the case.

The S3 write holds no row lock (an upload may take seconds; nobody working the case waits for
it): attachment_store checks who may attach and what the file is, then stores it under a fresh
random key of the case, with no transaction open; case_attach_stored then locks the case,
checks again and records the row with its audit event, in one short transaction. A file whose
record is refused or fails is deleted again (attachment_discard); if that delete fails too the
object is left, harmless: no row names it, its key is random, and downloads only serve what a
row names.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import re
import uuid
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction

from cases.audit.trail import audit_record, refusals_audited
from cases.errors import InvalidInput, NotFound, StorageUnavailable
from cases.ingest.outages import s3_unreachable
from cases.locking import conflicts_retried
from cases.models import REFERENCE_PREFIX, Attachment, AuditAction, Case, parse_case_reference
from cases.s3 import ensure_bucket, s3_client
from cases.workflow.services.common import check_version, lock_case, require_can_work, touch_case

logger = logging.getLogger(__name__)

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


@dataclass(frozen=True, slots=True)
class StoredFile:
    """A checked file already in S3 under a fresh key of its case, not yet recorded."""

    case_id: int
    bucket: str
    key: str
    filename: str
    content_type: str
    size_bytes: int
    sha256: str


def _refusals(actor, case_id):
    return refusals_audited(
        actor=actor, attempted="case_attach_file", object_type="cases.case", object_id=case_id
    )


def attachment_store(
    *,
    actor,
    case_id,
    filename: str,
    content: bytes,
    expected_version: int | None = None,
) -> StoredFile:
    """Check a file and store it in S3 under a fresh key of the case, holding no lock.

    Who may attach, the case's version and the content are checked first (refusals audited);
    nothing is an attachment until case_attach_stored records it. S3 out of reach (refused,
    timed out, 5xx) is StorageUnavailable: nothing was stored, try again later. The file's type is the one
    its extension names, once its content is found to be that type (_check_attachment).
    """
    with _refusals(actor, case_id):
        case_pk = parse_case_reference(case_id)
        case = Case.objects.select_related("queue").filter(pk=case_pk).first()
        if case is None:
            raise NotFound(f"no case {REFERENCE_PREFIX}{case_pk:06d}")
        require_can_work(actor, case, attempted="attach files")
        check_version(case, expected_version)  # before the upload; again under the lock
        safe_name, content_type = _check_attachment(filename, content)
        stored = StoredFile(
            case_id=case.pk,
            bucket=settings.FRAUDCASE_ATTACHMENTS_BUCKET,
            key=f"cases/{case.reference}/attachments/{uuid.uuid4().hex}-{safe_name}",
            filename=safe_name,
            content_type=content_type,
            size_bytes=len(content),
            sha256=hashlib.sha256(content).hexdigest(),
        )
        try:
            client = s3_client(interactive=True)  # someone waits: an outage is told in seconds
            ensure_bucket(client, stored.bucket)
            client.put_object(
                Bucket=stored.bucket, Key=stored.key, Body=content, ContentType=content_type,
                ChecksumSHA256=base64.b64encode(hashlib.sha256(content).digest()).decode(),
            )  # fmt: skip  # S3 checks what it stored
        except Exception as error:
            if not s3_unreachable(error):
                raise
            logger.warning("attachment not stored, S3 is out of reach: %s", error)
            raise StorageUnavailable(
                f"The file store (S3) is out of reach, so {safe_name} was not attached and "
                "nothing was saved. Try again in a minute."
            ) from error
        return stored


def attachment_discard(stored: StoredFile) -> None:
    """Delete a stored file that no row records (its record was refused or failed). Best
    effort: an object left behind is harmless (no row names it, so nothing serves it)."""
    try:
        s3_client().delete_object(Bucket=stored.bucket, Key=stored.key)
    except Exception:  # noqa: BLE001 - the caller's own error is the one to report
        logger.warning(
            "could not delete s3://%s/%s, stored for an attachment that was not recorded; "
            "no row names it", stored.bucket, stored.key, exc_info=True,
        )  # fmt: skip


@conflicts_retried
def case_attach_stored(
    *, actor, stored: StoredFile, expected_version: int | None = None
) -> Attachment:
    """Record a stored file on its case: lock the case, check again who may work it and its
    version, save the row and its audit event (one short transaction, no S3 call)."""
    with _refusals(actor, stored.case_id):
        with transaction.atomic():
            case = lock_case(stored.case_id, expected_version)
            require_can_work(actor, case, attempted="attach files")
            attachment = Attachment.objects.create(
                case=case, uploaded_by=actor, uploaded_by_name=actor.get_username(),
                filename=stored.filename, content_type=stored.content_type,
                size_bytes=stored.size_bytes, sha256=stored.sha256, s3_bucket=stored.bucket,
                s3_key=stored.key,
            )  # fmt: skip
            touch_case(case)
            audit_record(
                actor=actor, action=AuditAction.ATTACHMENT_ADDED, obj=case,
                after={"attachment_id": attachment.pk, "filename": stored.filename,
                       "sha256": stored.sha256, "size_bytes": stored.size_bytes,
                       "s3_key": stored.key},
            )  # fmt: skip
            return attachment


def case_attach_file(
    *,
    actor,
    case_id,
    filename: str,
    content: bytes,
    content_type: str = "",
    expected_version: int | None = None,
) -> Attachment:
    """Store a checked file in S3 under the case, then record it (size, type and content
    checked); no row is locked while S3 is written. A file whose record is refused or fails
    is deleted again.

    content_type is what the client claimed and is not trusted: the stored type is the one the
    file's extension names, once the content is found to be that type (_check_attachment).
    """
    stored = attachment_store(
        actor=actor, case_id=case_id, filename=filename, content=content,
        expected_version=expected_version,
    )  # fmt: skip
    try:
        return case_attach_stored(actor=actor, stored=stored, expected_version=expected_version)
    except BaseException:
        attachment_discard(stored)
        raise
