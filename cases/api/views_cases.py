"""Cases for other systems to mirror: the list (cursor pages in the order cases changed, the
queue's filters, updated_since for what changed) and one case with its transactions and notes.
Thin views over cases.workflow.selectors; the read policy is the pages' (cases.policies)."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics, serializers
from rest_framework.exceptions import NotFound

from cases.api.errors import PROBLEM_SCHEMA
from cases.api.pagination import ChangeOrderCursor
from cases.api.serializers import CaseDetailSerializer, CaseSerializer
from cases.models import CaseStatus, parse_case_reference
from cases.workflow.selectors import CaseFilters, case_for_sync, cases_for_sync


class CaseFiltersSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=CaseStatus.choices, required=False)
    queue = serializers.IntegerField(min_value=1, max_value=2**31 - 1, required=False)
    assignee = serializers.CharField(max_length=20, required=False, help_text="a user id, or none")
    score_min = serializers.FloatField(min_value=0, max_value=1, required=False)
    score_max = serializers.FloatField(min_value=0, max_value=1, required=False)
    amount_min = serializers.DecimalField(
        max_digits=20, decimal_places=2, min_value=0, required=False
    )
    amount_max = serializers.DecimalField(
        max_digits=20, decimal_places=2, min_value=0, required=False
    )
    country = serializers.RegexField(r"^[A-Z]{2}$", required=False)
    tag = serializers.SlugField(max_length=64, required=False)
    opened_from = serializers.DateTimeField(required=False)
    opened_to = serializers.DateTimeField(required=False)
    updated_since = serializers.DateTimeField(
        required=False, help_text="only cases changed after this time (ISO 8601 with offset)"
    )

    def validate_assignee(self, value: str):
        if value == "none" or (value.isdecimal() and 0 < int(value) < 2**31):
            return value
        raise serializers.ValidationError("a user id, or none")

    def validate(self, data):
        for low, high in (("score_min", "score_max"), ("amount_min", "amount_max"),
                          ("opened_from", "opened_to")):  # fmt: skip
            if low in data and high in data and data[low] > data[high]:
                raise serializers.ValidationError({low: [f"{low} is above {high}"]})
        return data

    def filters(self) -> CaseFilters:
        data = self.validated_data
        assignee = data.get("assignee", "")
        return CaseFilters(
            status=data.get("status", ""), queue_id=data.get("queue"),
            assignee_id=int(assignee) if assignee.isdecimal() else None,
            unassigned=assignee == "none", score_min=data.get("score_min"),
            score_max=data.get("score_max"), amount_min=data.get("amount_min"),
            amount_max=data.get("amount_max"), country=data.get("country", ""),
            tag=data.get("tag", ""), opened_from=data.get("opened_from"),
            opened_to=data.get("opened_to"), updated_since=data.get("updated_since"),
        )  # fmt: skip


@extend_schema(
    parameters=[CaseFiltersSerializer],
    responses={
        200: CaseSerializer(many=True),
        400: PROBLEM_SCHEMA,
        401: PROBLEM_SCHEMA,
        429: PROBLEM_SCHEMA,
    },  # fmt: skip
)
class CaseListView(generics.ListAPIView):
    """Every case you may read, oldest change first, in cursor pages.

    Mirror: walk every page once, keep the newest `updated_at`; later, ask with
    `updated_since` for what changed. A merged case comes back as a tombstone
    (`tombstone: true`, `merged_into`); cases are never deleted.
    """

    serializer_class = CaseSerializer
    pagination_class = ChangeOrderCursor

    def get_queryset(self):
        params = CaseFiltersSerializer(data=self.request.query_params)
        params.is_valid(raise_exception=True)
        return cases_for_sync(viewer=self.request.user, filters=params.filters())


@extend_schema(
    parameters=[
        OpenApiParameter(
            "reference", OpenApiTypes.STR, OpenApiParameter.PATH, description="FC-000123 (or 123)"
        )
    ],  # fmt: skip
    responses={
        200: OpenApiResponse(CaseDetailSerializer, description="with an ETag header"),
        401: PROBLEM_SCHEMA,
        404: PROBLEM_SCHEMA,
        429: PROBLEM_SCHEMA,
    },  # fmt: skip
)
class CaseDetailView(generics.RetrieveAPIView):
    """One case with its transactions (decisions, labels) and notes. A case outside your
    queues is a 404, as is one that does not exist."""

    serializer_class = CaseDetailSerializer

    def get_object(self):
        try:
            case_id = parse_case_reference(self.kwargs["reference"])
        except Exception:
            raise NotFound("no such case") from None
        case = case_for_sync(viewer=self.request.user, case_id=case_id)
        if case is None:
            raise NotFound("no such case")
        return case

    def retrieve(self, request, *args, **kwargs):
        response = super().retrieve(request, *args, **kwargs)
        response["ETag"] = response.data["etag"]
        return response


@extend_schema(exclude=True)
class NoSuchResource(generics.GenericAPIView):
    """Whatever no route of the API matches (a malformed id included): a 404 in the API's
    error format, for every method."""

    def _not_found(self, request, *args, **kwargs):
        raise NotFound("no such resource")

    get = post = put = patch = delete = _not_found
