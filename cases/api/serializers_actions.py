"""What the case actions take (unknown fields refused, each bad field named) and the objects
they create. Shapes and types only: what is allowed is the services' call."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from cases.api.serializers import NoteSerializer, StrictInputSerializer
from cases.models import Attachment, CaseStatus, Label, Outcome, Resolution


def tag_list(**kwargs) -> serializers.ListField:
    return serializers.ListField(
        child=serializers.CharField(max_length=64), max_length=100, **kwargs
    )


@extend_schema_field({"oneOf": [{"type": "integer"}, {"type": "string", "enum": ["me"]}]})
class AssigneeField(serializers.Field):
    """A user id, or "me" for the caller."""

    default_error_messages = {"invalid": 'a user id, or "me"'}

    def to_internal_value(self, data):
        if data == "me":
            return data
        if isinstance(data, str) and data.isdecimal():
            data = int(data)
        if isinstance(data, int) and not isinstance(data, bool) and 0 < data < 2**31:
            return data
        self.fail("invalid")

    def to_representation(self, value):
        return value


class AssignInput(StrictInputSerializer):
    assignee_id = AssigneeField()
    reason = serializers.CharField(
        max_length=2000, required=False, default="", allow_blank=True,
        help_text="why, when taking over a colleague's case (a lead's action)",
    )  # fmt: skip


MOVABLE_TO = {CaseStatus.OPEN, CaseStatus.IN_REVIEW, CaseStatus.WAITING_ON_CUSTOMER,
              CaseStatus.ESCALATED}  # fmt: skip


class TransitionInput(StrictInputSerializer):
    to_status = serializers.ChoiceField(
        choices=[(value, label) for value, label in CaseStatus.choices if value in MOVABLE_TO],
        help_text="closing is close/ (it needs a resolution); merging is merge/",
    )


class CloseInput(StrictInputSerializer):
    resolution = serializers.ChoiceField(choices=Resolution.choices)
    reason_codes = serializers.ListField(child=serializers.CharField(max_length=64), max_length=50)
    comment = serializers.CharField(max_length=20_000)


class ReopenInput(StrictInputSerializer):
    reason = serializers.CharField(max_length=2000)


class MergeInput(StrictInputSerializer):
    target = serializers.CharField(max_length=20, help_text="the case to merge into: FC-000123")
    justification = serializers.CharField(max_length=2000)


class NoteInput(StrictInputSerializer):
    body = serializers.CharField(max_length=20_000, help_text="Markdown")


class TagsInput(StrictInputSerializer):
    add = tag_list(required=False, default=list)
    remove = tag_list(required=False, default=list)

    def validate(self, data):
        if not data["add"] and not data["remove"]:
            raise serializers.ValidationError({"add": ["name tags to add or to remove"]})
        return data


class DecisionInput(StrictInputSerializer):
    decision = serializers.ChoiceField(choices=Outcome.choices)


class LabelInput(StrictInputSerializer):
    label = serializers.ChoiceField(choices=Label.choices)


class AttachmentInput(StrictInputSerializer):
    file = serializers.FileField(
        allow_empty_file=True, help_text="PDF, PNG, JPEG, text or CSV; checked like the page's"
    )


class NoteCreatedSerializer(NoteSerializer):
    case_etag = serializers.CharField(read_only=True, help_text="the case's ETag after the note")

    class Meta(NoteSerializer.Meta):
        fields = [*NoteSerializer.Meta.fields, "case_etag"]
        read_only_fields = fields


class AttachmentSerializer(serializers.ModelSerializer):
    case_etag = serializers.CharField(read_only=True, help_text="the case's ETag after the upload")

    class Meta:
        model = Attachment
        fields = [
            "id", "filename", "content_type", "size_bytes", "sha256", "uploaded_by_name",
            "created_at", "case_etag",
        ]  # fmt: skip
        read_only_fields = fields
