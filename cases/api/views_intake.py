"""Real-time intake of flagged transactions, and ingest runs: start, poll, read the quarantine.
Thin views over cases.ingest.intake; the contract is the S3 files' (docs/contract.md)."""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiResponse,
    PolymorphicProxySerializer,
    extend_schema,
)
from rest_framework import exceptions, generics, serializers, status
from rest_framework.parsers import BaseParser
from rest_framework.response import Response
from rest_framework.views import APIView

from cases.api.case_changes import IDEMPOTENCY_KEY
from cases.api.errors import PROBLEM_SCHEMA
from cases.api.idempotency import idempotent
from cases.api.pagination import IdOrderCursor, StrictPageSizeCursor
from cases.api.permissions import require
from cases.api.serializers_intake import (
    FlagRowSerializer,
    IngestRunSerializer,
    IngestStartResultSerializer,
    IngestStartSerializer,
    IntakeResultSerializer,
    QuarantinedRowSerializer,
    intake_result_data,
)
from cases.ingest import intake
from cases.ingest.jsontext import json_loads_rows


class ContractJSONParser(BaseParser):
    """JSON read as a JSON Lines file's rows are (simdjson, orjson or the stdlib: the same
    values), so a row posted gets exactly the values it would get from the inbox."""

    media_type = "application/json"

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return json_loads_rows(stream.read())
        except ValueError as exc:
            raise exceptions.ParseError(f"the body is not valid JSON: {exc}") from None


class BatchTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "batch_too_large"
    default_detail = f"a batch holds at most {intake.MAX_BATCH_ROWS} rows"


class BodyTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "body_too_large"
    default_detail = "the body is larger than the server takes (FRAUDCASE_MAX_REQUEST_BYTES)"


class NewestRunsFirstCursor(StrictPageSizeCursor):
    """Newest runs first; a bad cursor or page size is a 400 naming it, as everywhere."""

    ordering = ("-created_at", "-id")


FLAGS_REQUEST = PolymorphicProxySerializer(
    component_name="FlagSubmission",
    serializers=[FlagRowSerializer, FlagRowSerializer(many=True)],
    resource_type_field_name=None,
    many=False,
)


@extend_schema(
    request=FLAGS_REQUEST,
    responses={
        201: OpenApiResponse(IntakeResultSerializer, description="at least one row loaded"),
        200: OpenApiResponse(IntakeResultSerializer, description="nothing new loaded"),
        400: PROBLEM_SCHEMA,
        401: PROBLEM_SCHEMA,
        403: PROBLEM_SCHEMA,
        413: PROBLEM_SCHEMA,
        415: PROBLEM_SCHEMA,
        422: PROBLEM_SCHEMA,
        429: PROBLEM_SCHEMA,
    },  # fmt: skip
    parameters=[IDEMPOTENCY_KEY],
    examples=[
        OpenApiExample(
            "one flag",
            request_only=True,
            value={
                "transaction_id": "tx_000123",
                "account_id": "acc_42",
                "occurred_at": "2026-12-06T10:15:00Z",
                "amount": "129.90",
                "currency": "EUR",
                "similarity_score": 0.93,
                "model_version": "detector-2026.11.2",
            },  # fmt: skip
        )
    ],
)
class FlagSubmitView(APIView):
    """Submit one flagged transaction (a JSON object) or a batch (an array, at most 1,000).

    Same contract, validation, quarantine and idempotency as the S3 inbox: each request is one
    ingest run; each row comes back loaded (with the case it opened or joined, already in its
    queue), duplicate (transaction_id already known) or quarantined with every reason (kept,
    see the run's quarantine). Needs the submit_flags permission and a write token.
    """

    parser_classes = [ContractJSONParser]

    @idempotent
    def post(self, request):
        # Django checks its upload limit on request.body only; DRF's parser reads the stream.
        size_bytes = int(request.META.get("CONTENT_LENGTH") or 0)
        if size_bytes > settings.DATA_UPLOAD_MAX_MEMORY_SIZE:
            raise BodyTooLarge(
                f"the body is {size_bytes} bytes: at most {settings.DATA_UPLOAD_MAX_MEMORY_SIZE}"
            )
        body = request.data
        if request.stream is None:
            raise exceptions.ParseError("the body is empty: send a JSON object or array")
        if isinstance(body, dict):
            rows = [body]
        elif isinstance(body, list):
            if len(body) > intake.MAX_BATCH_ROWS:
                raise BatchTooLarge(
                    f"{len(body)} rows: a batch holds at most {intake.MAX_BATCH_ROWS} rows"
                )
            rows = body
        else:
            raise serializers.ValidationError(
                {
                    "non_field_errors": [
                        f"expected a JSON object or array, not {type(body).__name__}"
                    ]
                }
            )
        result = intake.flags_submit(actor=request.user, rows=rows, size_bytes=size_bytes)
        loaded = result.run.rows_loaded > 0
        return Response(
            intake_result_data(result),
            status=status.HTTP_201_CREATED if loaded else status.HTTP_200_OK,
        )


class IngestRunListView(generics.ListAPIView):
    """Ingest runs, newest first, in cursor pages (any role that reads cases)."""

    serializer_class = IngestRunSerializer
    pagination_class = NewestRunsFirstCursor

    def get_queryset(self):
        require(self.request, "view_case", attempted="read ingest runs")
        return intake.ingest_runs_for(viewer=self.request.user)

    @extend_schema(
        responses={
            200: IngestRunSerializer(many=True),
            400: PROBLEM_SCHEMA,
            401: PROBLEM_SCHEMA,
            403: PROBLEM_SCHEMA,
            429: PROBLEM_SCHEMA,
        },  # fmt: skip
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(
        request=IngestStartSerializer,
        responses={
            201: OpenApiResponse(IngestStartResultSerializer, description="runs queued"),
            200: OpenApiResponse(IngestStartResultSerializer, description="nothing new"),
            400: PROBLEM_SCHEMA,
            401: PROBLEM_SCHEMA,
            403: PROBLEM_SCHEMA,
            413: PROBLEM_SCHEMA,
            415: PROBLEM_SCHEMA,
            422: PROBLEM_SCHEMA,
            429: PROBLEM_SCHEMA,
        },  # fmt: skip
        parameters=[IDEMPOTENCY_KEY],
    )
    @idempotent
    def post(self, request):
        """Take in every new object under a prefix of a bucket (default the inbox): each is
        registered once per version (bucket, key, ETag) and queued for a worker. Needs
        submit_flags or rerun_ingest. Poll each run at /api/v1/ingest-runs/<id>/."""
        params = IngestStartSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        runs = intake.ingest_runs_start(
            actor=request.user, prefix=params.validated_data["prefix"],
            bucket=params.validated_data.get("bucket"),
        )  # fmt: skip
        return Response(
            {"runs": IngestRunSerializer(runs, many=True).data},
            status=status.HTTP_201_CREATED if runs else status.HTTP_200_OK,
        )


@extend_schema(
    responses={
        200: IngestRunSerializer,
        401: PROBLEM_SCHEMA,
        403: PROBLEM_SCHEMA,
        404: PROBLEM_SCHEMA,
        429: PROBLEM_SCHEMA,
    },  # fmt: skip
)
class IngestRunDetailView(generics.RetrieveAPIView):
    """One ingest run: status, progress, its books (rows read = loaded + duplicates +
    quarantined) and error. Poll it until status is succeeded or failed."""

    serializer_class = IngestRunSerializer

    def get_object(self):
        require(self.request, "view_case", attempted="read ingest runs")
        return intake.ingest_run_for(viewer=self.request.user, run_id=self.kwargs["run_id"])


@extend_schema(
    responses={
        200: QuarantinedRowSerializer(many=True),
        400: PROBLEM_SCHEMA,
        401: PROBLEM_SCHEMA,
        403: PROBLEM_SCHEMA,
        404: PROBLEM_SCHEMA,
        429: PROBLEM_SCHEMA,
    },  # fmt: skip
)
class QuarantinedRowListView(generics.ListAPIView):
    """A run's quarantined rows with every reason and their raw text, in row order (cursor
    pages). Raw rows may name any account: only for roles that see every case (404 for others)."""

    serializer_class = QuarantinedRowSerializer
    pagination_class = IdOrderCursor

    def get_queryset(self):
        require(self.request, "view_case", attempted="read quarantined rows")
        return intake.quarantined_rows_for(viewer=self.request.user, run_id=self.kwargs["run_id"])
