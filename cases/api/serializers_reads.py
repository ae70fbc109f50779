"""What the read resources show: accounts, IPs, similar transactions and cases, queues, label
exports and audit events. Output only; each shapes what a selector already returned."""

from __future__ import annotations

from rest_framework import serializers

from cases.models import AuditAction, AuditEvent, LabelExportBatch


class AccountCaseSerializer(serializers.Serializer):
    reference = serializers.CharField()
    status = serializers.CharField()
    queue = serializers.CharField(source="queue.name", allow_null=True, default=None)
    transaction_count = serializers.IntegerField()
    opened_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class AccountSerializer(serializers.Serializer):
    account_id = serializers.CharField()
    cases = AccountCaseSerializer(many=True, help_text="the account's cases you may read")
    transaction_count = serializers.IntegerField(help_text="in the cases you may read")
    fraud_count = serializers.IntegerField(help_text="of those, labelled fraud")
    hidden_case_count = serializers.IntegerField(
        help_text="its cases in queues you may not read (a count, never their ids)"
    )


class IpPlaceSerializer(serializers.Serializer):
    kind = serializers.CharField()
    country_code = serializers.CharField()
    country_name = serializers.CharField()
    city = serializers.CharField()
    latitude = serializers.FloatField(allow_null=True)
    longitude = serializers.FloatField(allow_null=True)
    asn = serializers.IntegerField(allow_null=True)
    as_org = serializers.CharField()
    accuracy_radius_km = serializers.IntegerField(allow_null=True)


class IpAccountSerializer(serializers.Serializer):
    account_id = serializers.CharField()
    transactions = serializers.IntegerField()
    curation_records = serializers.IntegerField()


class IpTransactionSerializer(serializers.Serializer):
    transaction_id = serializers.CharField()
    account_id = serializers.CharField()
    case_reference = serializers.CharField(source="case.reference")
    occurred_at = serializers.DateTimeField()
    amount = serializers.DecimalField(max_digits=20, decimal_places=2)
    currency = serializers.CharField()
    label = serializers.CharField()


class IpHiddenSerializer(serializers.Serializer):
    cases = serializers.IntegerField()
    accounts = serializers.IntegerField()
    transactions = serializers.IntegerField()
    curation_records = serializers.IntegerField()


class IpUsageSerializer(serializers.Serializer):
    """Lists hold at most the page's limit; *_total counts them all (of what you may read)."""

    ip = serializers.CharField()
    place = IpPlaceSerializer()
    first_seen = serializers.DateTimeField(allow_null=True)
    last_seen = serializers.DateTimeField(allow_null=True)
    accounts = IpAccountSerializer(many=True)
    accounts_total = serializers.IntegerField()
    cases = serializers.ListField(child=serializers.CharField(), help_text="case references")
    cases_total = serializers.IntegerField()
    transactions = IpTransactionSerializer(many=True)
    transactions_total = serializers.IntegerField()
    label_counts = serializers.DictField(child=serializers.IntegerField())
    hidden = IpHiddenSerializer(
        allow_null=True, help_text="uses in cases you may not read, as counts (null: none hidden)"
    )

    def to_representation(self, instance):
        usage = instance["usage"]
        return super().to_representation(
            {
                "ip": instance["ip"],
                "place": usage.place,
                "first_seen": usage.first_seen,
                "last_seen": usage.last_seen,
                "accounts": [
                    {"account_id": a, "transactions": t, "curation_records": c}
                    for a, t, c in usage.accounts.items
                ],
                "accounts_total": usage.accounts.total,
                "cases": [case.reference for case in usage.cases.items],
                "cases_total": usage.cases.total,
                "transactions": usage.transactions.items,
                "transactions_total": usage.transactions.total,
                "label_counts": usage.label_counts,
                "hidden": usage.hidden or None,
            }
        )


class NeighbourSerializer(serializers.Serializer):
    """A similar transaction; in a case you may not read only similarity, label, time and the
    case's outcome are shown (hidden: true, the rest blank)."""

    hidden = serializers.BooleanField()
    similarity = serializers.FloatField()
    label = serializers.CharField()
    transaction_id = serializers.CharField()
    account_id = serializers.CharField()
    amount = serializers.DecimalField(max_digits=20, decimal_places=2, allow_null=True)
    currency = serializers.CharField()
    merchant = serializers.CharField()
    occurred_at = serializers.DateTimeField()
    case_reference = serializers.CharField()
    case_status = serializers.CharField()
    case_resolution = serializers.CharField()


class SimilarTransactionsSerializer(serializers.Serializer):
    k = serializers.IntegerField()
    has_embedding = serializers.BooleanField()
    message = serializers.CharField(help_text="why there is nothing to show, if so")
    hidden_count = serializers.IntegerField()
    neighbours = NeighbourSerializer(many=True)


class SimilarCaseSerializer(serializers.Serializer):
    """A similar case; one you may not read shows only similarity, status and resolution."""

    hidden = serializers.BooleanField()
    similarity = serializers.FloatField()
    reference = serializers.CharField()
    account_id = serializers.CharField()
    status = serializers.CharField()
    resolution = serializers.CharField()
    priority = serializers.IntegerField(allow_null=True)
    transaction_count = serializers.IntegerField(allow_null=True)
    neighbour_fraud_score = serializers.FloatField(allow_null=True)


class SimilarCasesSerializer(serializers.Serializer):
    k = serializers.IntegerField()
    has_embedding = serializers.BooleanField()
    message = serializers.CharField()
    hidden_count = serializers.IntegerField()
    cases = SimilarCaseSerializer(many=True)


class QueueSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    description = serializers.CharField()
    sla_hours = serializers.IntegerField()
    is_default = serializers.BooleanField()
    member_count = serializers.IntegerField()


class LabelExportBatchSerializer(serializers.ModelSerializer):
    class Meta:
        model = LabelExportBatch
        fields = [
            "batch_id", "state", "row_count", "bucket", "object_key", "decided_from",
            "decided_to", "created_at", "exported_at",
        ]  # fmt: skip
        read_only_fields = fields


class LabelExportBacklogSerializer(serializers.Serializer):
    pending = serializers.IntegerField(help_text="label changes waiting to go out")
    oldest_pending_at = serializers.DateTimeField(allow_null=True)
    held = serializers.IntegerField(help_text="held for a lead's review")
    quarantined = serializers.IntegerField()
    unfinished_batches = serializers.IntegerField()


class LabelExportsSerializer(serializers.Serializer):
    backlog = LabelExportBacklogSerializer()
    recent_batches = LabelExportBatchSerializer(many=True, help_text="newest first")


class AuditEventSerializer(serializers.ModelSerializer):
    action = serializers.ChoiceField(choices=AuditAction.choices, read_only=True)

    class Meta:
        model = AuditEvent
        fields = [
            "id", "occurred_at", "actor_name", "action", "object_type", "object_id",
            "object_repr", "before", "after", "request_id", "via_token", "client_ip", "hash",
        ]  # fmt: skip
        read_only_fields = fields


class AuditFiltersSerializer(serializers.Serializer):
    actor = serializers.CharField(max_length=150, required=False, help_text="part of the name")
    action = serializers.ChoiceField(choices=AuditAction.choices, required=False)
    object_type = serializers.CharField(max_length=64, required=False)
    object_id = serializers.CharField(max_length=64, required=False)
    since = serializers.DateTimeField(required=False, help_text="inclusive, ISO 8601")
    until = serializers.DateTimeField(required=False, help_text="exclusive, ISO 8601")

    def validate(self, data):
        if "since" in data and "until" in data and data["since"] >= data["until"]:
            raise serializers.ValidationError({"since": ["since must be before until"]})
        return data
