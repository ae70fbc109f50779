"""What is added to a case through the API: notes, tags and attachments, through the same
services as the case page (same checks, same audit), each guarded by the case's If-Match and
honouring Idempotency-Key; and an attachment's download, audited like the page's."""

from __future__ import annotations

from botocore.exceptions import ClientError
from django.conf import settings
from django.db import transaction
from django.http import StreamingHttpResponse
from django.utils.http import content_disposition_header
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.exceptions import APIException, NotFound
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from cases.api.case_changes import (
    CASE_ANSWER,
    CHANGE_PROBLEMS,
    IDEMPOTENCY_KEY,
    IF_MATCH,
    REFERENCE,
    CaseChangeMixin,
    case_id_of,
    case_response,
)
from cases.api.errors import PROBLEM_SCHEMA
from cases.api.pagination import IdOrderCursor
from cases.api.serializers import NoteSerializer, case_etag
from cases.api.serializers_actions import (
    AttachmentInput,
    AttachmentSerializer,
    NoteCreatedSerializer,
    NoteInput,
    TagsInput,
)
from cases.audit import reads as read_audit
from cases.audit.trail import refusals_audited
from cases.errors import CaseNotVisible, InvalidInput
from cases.models import Case
from cases.s3 import s3_client
from cases.workflow import services
from cases.workflow.selectors import case_for_sync
from cases.workflow.services.attachments import ATTACHMENT_TYPES
from cases.workflow.services.common import require_can_work
from cases.workflow.uploads import AttachmentSizeLimit

DOWNLOAD_CHUNK_BYTES = 64 * 1024


def visible_case(request, reference: str) -> Case:
    case = case_for_sync(viewer=request.user, case_id=case_id_of(reference))
    if case is None:
        raise NotFound("no such case")
    return case


def _reread(case_id) -> Case:
    return Case.objects.only("pk", "version", "updated_at").get(pk=case_id)


@extend_schema(
    methods=["GET"],
    parameters=[REFERENCE],
    responses={200: NoteSerializer(many=True), 401: PROBLEM_SCHEMA, 404: PROBLEM_SCHEMA,
               429: PROBLEM_SCHEMA},
)  # fmt: skip
@extend_schema(
    methods=["POST"],
    request=NoteInput,
    parameters=[REFERENCE, IF_MATCH, IDEMPOTENCY_KEY],
    responses={
        201: OpenApiResponse(NoteCreatedSerializer, description="the note, with the case's ETag"),
        **CHANGE_PROBLEMS,
    },
)
class CaseNotesView(CaseChangeMixin, generics.GenericAPIView):
    """GET: the case's notes, oldest first, in cursor pages. POST: add a note (Markdown)."""

    attempted = "case_add_note"
    input_serializer = NoteInput
    serializer_class = NoteSerializer
    pagination_class = IdOrderCursor

    def get(self, request, reference):
        case = visible_case(request, reference)
        page = self.paginate_queryset(case.notes.all())
        return self.get_paginated_response(NoteSerializer(page, many=True).data)

    def perform(self, request, data, case_id, expected_version, **kwargs):
        note = services.case_add_note(
            actor=request.user, case_id=case_id, body=data["body"],
            expected_version=expected_version,
        )  # fmt: skip
        note.case_etag = case_etag(_reread(case_id))
        return Response(
            NoteCreatedSerializer(note).data, status=status.HTTP_201_CREATED,
            headers={"ETag": note.case_etag},
        )  # fmt: skip


@extend_schema(
    request=TagsInput,
    parameters=[REFERENCE, IF_MATCH, IDEMPOTENCY_KEY],
    responses={200: CASE_ANSWER, **CHANGE_PROBLEMS},
)
class CaseTagsView(CaseChangeMixin, APIView):
    """Add and remove tags (lower-case letters, digits, - and _); new tags are created."""

    attempted = "case_set_tags"
    input_serializer = TagsInput

    def perform(self, request, data, case_id, expected_version, **kwargs):
        services.case_set_tags(
            actor=request.user, case_id=case_id, add=data["add"], remove=data["remove"],
            expected_version=expected_version,
        )  # fmt: skip
        return case_response(request, case_id)


class AttachmentTooLarge(InvalidInput):
    code = "request_too_large"
    http_status = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE


@extend_schema(
    request={"multipart/form-data": AttachmentInput},
    parameters=[REFERENCE, IF_MATCH, IDEMPOTENCY_KEY],
    responses={
        201: OpenApiResponse(AttachmentSerializer, description="the stored file's record"),
        413: PROBLEM_SCHEMA,
        503: OpenApiResponse(
            PROBLEM_SCHEMA.response,
            description="`storage_unavailable`: the file store (S3) is out of reach; nothing "
            "was stored. Retry after `Retry-After` seconds (the same Idempotency-Key may be "
            "sent again: a refusal is not remembered)",
        ),
        **CHANGE_PROBLEMS,
    },
)
class CaseAttachmentUploadView(CaseChangeMixin, APIView):
    """Attach a file (multipart, field `file`): PDF, PNG, JPEG, text or CSV, its content
    checked against its name like on the case page; larger than the limit is a 413, refused
    while it streams in; S3 out of reach is a 503 `storage_unavailable` with Retry-After."""

    attempted = "case_attach_file"
    input_serializer = AttachmentInput
    parser_classes = [MultiPartParser]

    def initial(self, request, *args, **kwargs):
        # The size limit goes in before anything reads the body (a session's CSRF check does).
        self.size_limit = AttachmentSizeLimit(
            request._request, max_bytes=settings.FRAUDCASE_ATTACHMENT_MAX_BYTES
        )
        request._request.upload_handlers.insert(0, self.size_limit)
        super().initial(request, *args, **kwargs)
        if request.method != "POST":
            return
        # Who may attach, before a byte of the file is read (a token's request reads none yet).
        case_id = case_id_of(kwargs["reference"])
        with refusals_audited(
            actor=request.user, attempted=self.attempted, object_type="cases.case",
            object_id=case_id,
        ):  # fmt: skip
            case = case_for_sync(viewer=request.user, case_id=case_id)
            if case is None:
                raise CaseNotVisible("no such case")
            require_can_work(request.user, case, attempted="attach files")

    def read_input(self, request) -> dict:
        request.data  # noqa: B018  parsed here, through the size limit
        if self.size_limit.refusal:
            raise AttachmentTooLarge(self.size_limit.refusal)
        data = super().read_input(request)
        # Stored in S3 here, before the transaction that locks the case (no lock is held while
        # S3 is written); once per request, also when a lock conflict reruns the transaction.
        if self.stored is None:
            upload = data["file"]
            # No more than one byte past the limit: the service refuses anything longer.
            content = upload.read(settings.FRAUDCASE_ATTACHMENT_MAX_BYTES + 1)
            # A transaction that locks nothing: a refusal's event rolls back with it, and the
            # view records the refusal once (as for every change, CaseChangeMixin).
            with transaction.atomic():
                self.stored = services.attachment_store(
                    actor=request.user, case_id=case_id_of(self.kwargs["reference"]),
                    filename=upload.name, content=content,
                )  # fmt: skip
        return data

    def perform(self, request, data, case_id, expected_version, **kwargs):
        attachment = services.case_attach_stored(
            actor=request.user, stored=self.stored, expected_version=expected_version
        )
        self.recorded = True
        attachment.case_etag = case_etag(_reread(case_id))
        return Response(
            AttachmentSerializer(attachment).data, status=status.HTTP_201_CREATED,
            headers={"ETag": attachment.case_etag},
        )  # fmt: skip

    def post(self, request, **kwargs):
        self.stored, self.recorded = None, False
        try:
            response = super().post(request, **kwargs)
        except BaseException:  # the transaction rolled back, the row with it
            self.recorded = False
            self._discard_unrecorded()
            raise
        if not status.is_success(response.status_code):
            self.recorded = False  # rolled back with the refusal (a stale If-Match, ...)
        self._discard_unrecorded()
        return response

    def _discard_unrecorded(self) -> None:
        """A file stored but not recorded (refused, failed) is deleted again."""
        if self.stored is not None and not self.recorded:
            services.attachment_discard(self.stored)


class StorageUnavailable(APIException):
    status_code = status.HTTP_502_BAD_GATEWAY
    default_code = "storage_unavailable"


@extend_schema(
    parameters=[
        REFERENCE,
        OpenApiParameter("attachment_id", OpenApiTypes.INT, OpenApiParameter.PATH),
    ],
    responses={
        (200, "application/octet-stream"): OpenApiResponse(
            OpenApiTypes.BINARY, description="the file, as a download of its checked type"
        ),
        401: PROBLEM_SCHEMA,
        404: PROBLEM_SCHEMA,
        429: PROBLEM_SCHEMA,
        502: PROBLEM_SCHEMA,
    },
)
class CaseAttachmentDownloadView(APIView):
    """Download one of the case's attachments (each download is in the audit trail)."""

    def get(self, request, reference, attachment_id: int):
        case = visible_case(request, reference)
        attachment = case.attachments.filter(pk=attachment_id).first()
        if attachment is None:
            raise NotFound(f"{case.reference} has no such attachment")
        try:
            body = s3_client().get_object(Bucket=attachment.s3_bucket, Key=attachment.s3_key)
            read_audit.attachment_downloaded(actor=request.user, case=case, attachment=attachment)
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "error")
            raise StorageUnavailable(
                f"{attachment.filename} could not be read from storage ({code}); try again later"
            ) from None
        # Always a download of the type checked at upload, never something a browser renders.
        content_type = attachment.content_type
        if content_type not in ATTACHMENT_TYPES:
            content_type = "application/octet-stream"
        response = StreamingHttpResponse(
            body["Body"].iter_chunks(DOWNLOAD_CHUNK_BYTES), content_type=content_type
        )
        response["Content-Length"] = str(attachment.size_bytes)
        response["Content-Disposition"] = content_disposition_header(True, attachment.filename)
        response["X-Content-Type-Options"] = "nosniff"
        return response
