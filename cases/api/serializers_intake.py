"""What the intake and ingest-run endpoints take and show. A flagged transaction itself is
validated by the S3 contract (cases.ingest.validation), not here: FlagRowSerializer only
documents it in the schema, so the API and the files can never disagree."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from cases.api.serializers import StrictInputSerializer
from cases.ingest.intake import IntakeResult, Outcome
from cases.models import IngestRun, QuarantinedRow


class FlagRowSerializer(serializers.Serializer):
    """One flagged transaction, the columns of the S3 contract (docs/contract.md). Unknown
    extra fields are ignored, as in files; a row breaking a rule is quarantined, not refused."""

    transaction_id = serializers.CharField(max_length=128, help_text="the idempotency key")
    account_id = serializers.CharField(max_length=128)
    occurred_at = serializers.DateTimeField(help_text="ISO 8601 with a UTC offset")
    amount = serializers.DecimalField(max_digits=18, decimal_places=2, min_value=0)
    currency = serializers.CharField(help_text="ISO 4217")
    merchant = serializers.CharField(max_length=255, required=False)
    merchant_category = serializers.RegexField(r"^[0-9]{4}$", required=False, help_text="MCC")
    channel = serializers.CharField(max_length=32, required=False)
    country = serializers.CharField(required=False, help_text="ISO 3166-1 alpha-2")
    source_ip = serializers.IPAddressField(required=False)
    device_id = serializers.CharField(max_length=128, required=False)
    similarity_score = serializers.FloatField(min_value=0, max_value=1)
    model_version = serializers.CharField(max_length=64)
    outcome = serializers.ChoiceField(["approve", "investigate", "block"], required=False)
    embedding = serializers.ListField(
        child=serializers.FloatField(), required=False, help_text="FRAUDCASE_EMBEDDING_DIM values"
    )
    features = serializers.DictField(
        child=serializers.FloatField(), required=False, help_text="at most 512 entries"
    )


class RowResultSerializer(serializers.Serializer):
    index = serializers.IntegerField(help_text="the row's position in the request, from 0")
    transaction_id = serializers.CharField(help_text="empty when the row had none")
    outcome = serializers.ChoiceField([Outcome.LOADED, Outcome.DUPLICATE, Outcome.QUARANTINED])
    reasons = serializers.ListField(
        child=serializers.CharField(), help_text="why a row was quarantined (every reason)"
    )
    case_reference = serializers.CharField(
        allow_null=True, help_text="the case holding the transaction (loaded or duplicate)"
    )


@extend_schema_field(
    {"type": "string", "description": "one of: " + ", ".join(IngestRun.Status.values)}
)
class IngestRunStatusField(serializers.CharField):
    """A run's status. Plain text in the schema: an enum named "status" collides with the
    case's (ENUM_NAME_OVERRIDES in the settings would let it be an enum again)."""


class IngestRunSerializer(serializers.ModelSerializer):
    status = IngestRunStatusField(read_only=True)
    uri = serializers.CharField(read_only=True)
    progress_percent = serializers.IntegerField(read_only=True)
    duration_seconds = serializers.FloatField(read_only=True, allow_null=True)

    class Meta:
        model = IngestRun
        fields = [
            "id", "uri", "bucket", "key", "etag", "kind", "file_format", "size_bytes", "status",
            "progress_percent", "triggered_by", "rows_read", "rows_loaded", "rows_duplicate",
            "rows_quarantined", "cases_opened", "bytes_read", "attempts", "error", "created_at",
            "started_at", "finished_at", "duration_seconds", "updated_at",
        ]  # fmt: skip
        read_only_fields = fields


class IntakeTotalsSerializer(serializers.Serializer):
    rows_read = serializers.IntegerField()
    rows_loaded = serializers.IntegerField()
    rows_duplicate = serializers.IntegerField()
    rows_quarantined = serializers.IntegerField()
    cases_opened = serializers.IntegerField()


class IntakeResultSerializer(serializers.Serializer):
    run_id = serializers.IntegerField()
    run = IngestRunSerializer()
    totals = IntakeTotalsSerializer()
    rows = RowResultSerializer(many=True)


def intake_result_data(result: IntakeResult) -> dict:
    """The response body (built directly: a 1,000-row answer through serializers costs more
    than loading the rows)."""
    run = result.run
    return {
        "run_id": run.pk,
        "run": IngestRunSerializer(run).data,
        "totals": {
            "rows_read": run.rows_read,
            "rows_loaded": run.rows_loaded,
            "rows_duplicate": run.rows_duplicate,
            "rows_quarantined": run.rows_quarantined,
            "cases_opened": run.cases_opened,
        },  # fmt: skip
        "rows": [
            {
                "index": row.index,
                "transaction_id": row.transaction_id,
                "outcome": row.outcome,
                "reasons": row.reasons,
                "case_reference": row.case_reference,
            }  # fmt: skip
            for row in result.rows
        ],
    }


class IngestStartSerializer(StrictInputSerializer):
    bucket = serializers.RegexField(
        r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", required=False,
        help_text="an S3 bucket; default the inbox (FRAUDCASE_INBOX_BUCKET)",
    )  # fmt: skip
    prefix = serializers.CharField(
        max_length=1024, help_text="objects under it are taken in, e.g. flagged/2026-12-06/"
    )


class IngestStartResultSerializer(serializers.Serializer):
    runs = IngestRunSerializer(many=True, help_text="the runs queued for a worker, oldest first")


class QuarantinedRowSerializer(serializers.ModelSerializer):
    class Meta:
        model = QuarantinedRow
        fields = ["id", "row_number", "transaction_id", "reasons", "raw_text", "quarantined_at"]
        read_only_fields = fields
