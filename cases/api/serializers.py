"""What the API shows and takes: a case as other systems mirror it. Output only here; inputs
are validated by each view's own serializer (unknown fields refused)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from cases.currency.rates import reporting_currency
from cases.models import Case, Label, Note, Outcome, Resolution, Transaction


def case_etag(case: Case) -> str:
    """Changes whenever the case does: its version (every service change) and its last change
    (ingest folding in transactions)."""
    return f'"{case.pk}-{case.version}-{int(case.updated_at.timestamp() * 1_000_000)}"'


class StrictInputSerializer(serializers.Serializer):
    """An input that names a field it does not know is refused, not silently ignored."""

    def to_internal_value(self, data):
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError({name: ["unknown field"] for name in unknown})
        return super().to_internal_value(data)


def blank_or_choice(choices) -> serializers.ChoiceField:
    """A read-only choice that may be "" (not set): documented so (a read-only model field
    loses allow_blank, and the schema would promise one of the choices)."""
    return serializers.ChoiceField(choices=choices, allow_blank=True, read_only=True)


def username_or_null() -> serializers.SlugRelatedField:
    return serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)


class TransactionSerializer(serializers.ModelSerializer):
    decided_by = username_or_null()
    labelled_by = username_or_null()
    outcome = blank_or_choice(Outcome.choices)
    decision = blank_or_choice(Outcome.choices)
    label = blank_or_choice(Label.choices)
    source_ip = serializers.CharField(allow_null=True, read_only=True)

    class Meta:
        model = Transaction
        fields = [
            "transaction_id", "account_id", "occurred_at", "amount", "currency", "amount_reporting",
            "merchant",
            "merchant_category", "channel", "country", "source_ip", "device_id",
            "similarity_score", "model_version", "outcome", "decision", "decided_by",
            "label", "labelled_by",
        ]  # fmt: skip
        read_only_fields = fields


class NoteSerializer(serializers.ModelSerializer):
    class Meta:
        model = Note
        fields = ["id", "author_name", "body", "created_at"]
        read_only_fields = fields


class CaseSerializer(serializers.ModelSerializer):
    """A case as a list shows it; merged cases are tombstones pointing to where they went."""

    reference = serializers.CharField(read_only=True)
    queue = serializers.CharField(source="queue.name", allow_null=True, read_only=True)
    assignee = username_or_null()
    worst_outcome = blank_or_choice(Outcome.choices)
    resolution = blank_or_choice(Resolution.choices)
    merged_into = serializers.CharField(
        source="merged_into.reference", allow_null=True, read_only=True
    )
    # Sorted names from the selectors' annotations (cases.workflow.selectors).
    tags = serializers.ListField(child=serializers.CharField(), source="tag_names", read_only=True)
    reason_codes = serializers.ListField(
        child=serializers.CharField(), source="reason_code_list", read_only=True
    )
    etag = serializers.SerializerMethodField()
    tombstone = serializers.SerializerMethodField()
    currency = serializers.CharField(
        read_only=True,
        help_text="ISO 4217 code of the case's transactions; empty when they have several "
        "currencies (or none yet). amount_at_risk is in these units.",
    )
    amount_reporting = serializers.SerializerMethodField(
        help_text="the amount at risk in the reporting currency (FRAUDCASE_REPORTING_CURRENCY, "
        "reporting_currency); null when no exchange rate covers one of its transactions"
    )
    reporting_currency = serializers.SerializerMethodField()

    class Meta:
        model = Case
        fields = [
            "id", "reference", "account_id", "status", "tombstone", "merged_into", "priority",
            "queue", "assignee", "due_at", "max_similarity_score", "worst_outcome",
            "amount_at_risk", "currency", "amount_reporting", "reporting_currency",
            "transaction_count", "neighbour_fraud_score",
            "neighbour_summary", "resolution", "reason_codes", "closing_comment", "tags",
            "opened_at", "closed_at", "updated_at", "version", "etag",
        ]  # fmt: skip
        read_only_fields = fields

    @extend_schema_field(serializers.DecimalField(max_digits=20, decimal_places=2, allow_null=True))
    def get_amount_reporting(self, case: Case):
        if case.rate_missing:
            return None
        return serializers.DecimalField(max_digits=20, decimal_places=2).to_representation(
            case.amount_reporting
        )

    def get_reporting_currency(self, case: Case) -> str:
        return reporting_currency()

    def get_etag(self, case: Case) -> str:
        return case_etag(case)

    def get_tombstone(self, case: Case) -> bool:
        """True for a case merged into another: mirror it as gone, its data now in merged_into."""
        return case.merged_into_id is not None


class CaseDetailSerializer(CaseSerializer):
    transactions = TransactionSerializer(many=True, read_only=True)
    notes = NoteSerializer(many=True, read_only=True)

    class Meta(CaseSerializer.Meta):
        fields = [*CaseSerializer.Meta.fields, "transactions", "notes"]
        read_only_fields = fields
