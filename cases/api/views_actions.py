"""Case actions for other systems: assign, claim next, move along the workflow, close, reopen,
merge, and one transaction's decision or label. Thin views over the same services as the case
page (cases.workflow.services); each needs If-Match (cases.api.case_changes), honours
Idempotency-Key, and answers with the case as it is now."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, status
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
    expected_version,
    lock_visible_case,
    lock_visible_transaction,
)
from cases.api.errors import PROBLEM_SCHEMA
from cases.api.idempotency import respond_once
from cases.api.serializers import StrictInputSerializer
from cases.api.serializers_actions import (
    AssignInput,
    CloseInput,
    DecisionInput,
    LabelInput,
    MergeInput,
    ReopenInput,
    TransitionInput,
)
from cases.errors import CaseNotVisible, NotFound
from cases.locking import lock_cases
from cases.models import parse_case_reference
from cases.policies import can_view_case
from cases.workflow import services

CASE_CHANGE = {
    "parameters": [REFERENCE, IF_MATCH, IDEMPOTENCY_KEY],
    "responses": {200: CASE_ANSWER, **CHANGE_PROBLEMS},
}


@extend_schema(request=AssignInput, **CASE_CHANGE)
class CaseAssignView(CaseChangeMixin, APIView):
    """Give the case to a member of its queue (`"me"`: the caller). Leads assign anyone;
    others only themselves; taking a colleague's case is a lead's, with a reason."""

    attempted = "case_assign"
    input_serializer = AssignInput

    def perform(self, request, data, case_id, expected_version, **kwargs):
        assignee = data["assignee_id"]
        services.case_assign(
            actor=request.user, case_id=case_id, expected_version=expected_version,
            assignee_id=request.user.pk if assignee == "me" else assignee, reason=data["reason"],
        )  # fmt: skip
        return case_response(request, case_id)


class ClaimNextInput(StrictInputSerializer):
    """No fields: the next case is the highest-priority unassigned one in your queues."""


@extend_schema(
    request=None,
    parameters=[IDEMPOTENCY_KEY],
    responses={
        200: OpenApiResponse(CASE_ANSWER.response, description="the case now assigned to you"),
        204: OpenApiResponse(description="nothing is waiting in your queues"),
        **{code: PROBLEM_SCHEMA for code in (400, 401, 403, 413, 415, 422, 429)},
    },
)
class CaseClaimNextView(APIView):
    """Take the highest-priority unassigned open case of your queues (two callers at once get
    two different cases). No If-Match: no case is named."""

    def post(self, request):
        def claim():
            ClaimNextInput(data=request.data).is_valid(raise_exception=True)
            case = services.case_claim_next(actor=request.user)
            if case is None:
                return Response(status=status.HTTP_204_NO_CONTENT)
            return case_response(request, case.pk)

        return respond_once(request, claim, refusals={"attempted": "case_claim_next"})


@extend_schema(request=TransitionInput, **CASE_CHANGE)
class CaseTransitionView(CaseChangeMixin, APIView):
    """Move the case along the workflow (to closed: use close)."""

    attempted = "case_transition"
    input_serializer = TransitionInput

    def perform(self, request, data, case_id, expected_version, **kwargs):
        services.case_transition(
            actor=request.user, case_id=case_id, to_status=data["to_status"],
            expected_version=expected_version,
        )  # fmt: skip
        return case_response(request, case_id)


@extend_schema(request=CloseInput, **CASE_CHANGE)
class CaseCloseView(CaseChangeMixin, APIView):
    """Close with a resolution, reason codes that fit it and a comment; transactions not
    decided one by one get the resolution's defaults."""

    attempted = "case_close"
    input_serializer = CloseInput

    def perform(self, request, data, case_id, expected_version, **kwargs):
        services.case_close(
            actor=request.user, case_id=case_id, resolution=data["resolution"],
            reason_codes=data["reason_codes"], comment=data["comment"],
            expected_version=expected_version,
        )  # fmt: skip
        return case_response(request, case_id)


@extend_schema(request=ReopenInput, **CASE_CHANGE)
class CaseReopenView(CaseChangeMixin, APIView):
    """A lead reopens a closed case (back to in review), with a reason."""

    attempted = "case_reopen"
    input_serializer = ReopenInput

    def perform(self, request, data, case_id, expected_version, **kwargs):
        services.case_reopen(
            actor=request.user, case_id=case_id, reason=data["reason"],
            expected_version=expected_version,
        )  # fmt: skip
        return case_response(request, case_id)


@extend_schema(
    request=MergeInput,
    parameters=CASE_CHANGE["parameters"],
    responses={
        200: OpenApiResponse(
            CASE_ANSWER.response,
            description="the target case, now holding the merged case's work; the merged case "
            "syncs as a tombstone",
        ),
        **CHANGE_PROBLEMS,
    },
)
class CaseMergeView(CaseChangeMixin, APIView):
    """Fold this case into `target` (a lead's call, with a justification). If-Match is this
    case's ETag."""

    attempted = "case_merge"
    input_serializer = MergeInput

    def lock(self, request, data, **kwargs):
        source_id = case_id_of(kwargs["reference"])
        try:
            target_id = parse_case_reference(data["target"])
        except Exception:
            raise exceptions.ValidationError({"target": ["a case reference: FC-000123"]}) from None
        # Both at once, in the house order (cases.locking), as the merge service takes them.
        locked = lock_cases([source_id, target_id])
        for case_id in (source_id, target_id):
            if case_id not in locked:  # the same words as for a case that is not the caller's
                raise NotFound(
                    "no such case" if case_id == source_id else f"no case {data['target']}"
                )
        source = lock_visible_case(request.user, source_id)
        if not can_view_case(request.user, locked[target_id]):
            raise CaseNotVisible(f"no case {data['target']}")
        self.target_id = target_id
        return source.pk, expected_version(request, source)

    def perform(self, request, data, case_id, expected_version, **kwargs):
        merged_into = services.case_merge(
            actor=request.user, source_case_id=case_id, target_case_id=self.target_id,
            justification=data["justification"], source_version=expected_version,
        )  # fmt: skip
        return case_response(request, merged_into.pk)


TRANSACTION_ID = OpenApiParameter(
    "transaction_id", OpenApiTypes.STR, OpenApiParameter.PATH, description="the transaction's id"
)
TRANSACTION_CHANGE = {
    "parameters": [
        TRANSACTION_ID,
        OpenApiParameter(
            "If-Match",
            OpenApiTypes.STR,
            OpenApiParameter.HEADER,
            required=True,
            description="the ETag of the transaction's case",
        ),  # fmt: skip
        IDEMPOTENCY_KEY,
    ],
    "responses": {200: CASE_ANSWER, **CHANGE_PROBLEMS},
}


class TransactionVerdictView(CaseChangeMixin, APIView):
    """One analyst's verdict on one transaction, guarded by its case's ETag; answers with the
    case. A subclass names the service and the one input field it passes on (same name)."""

    verdict_field = ""
    service = None

    def refusal_target(self, **kwargs) -> dict:
        return {"object_type": "cases.transaction", "object_repr": kwargs["transaction_id"]}

    def lock(self, request, data, **kwargs):
        case = lock_visible_transaction(request.user, kwargs["transaction_id"])
        return case.pk, expected_version(request, case)

    def perform(self, request, data, case_id, expected_version, **kwargs):
        self.service(
            actor=request.user, transaction_id=kwargs["transaction_id"],
            expected_version=expected_version, **{self.verdict_field: data[self.verdict_field]},
        )  # fmt: skip
        return case_response(request, case_id)


@extend_schema(request=DecisionInput, **TRANSACTION_CHANGE)
class TransactionDecisionView(TransactionVerdictView):
    """Record your decision (approve / investigate / block) on one transaction of an open
    case; answers with its case."""

    attempted = "transaction_decide"
    input_serializer = DecisionInput
    verdict_field = "decision"
    service = staticmethod(services.transaction_decide)


@extend_schema(request=LabelInput, **TRANSACTION_CHANGE)
class TransactionLabelView(TransactionVerdictView):
    """Record your truth label (fraud / legitimate) on one transaction; a flip of an exported
    label, or one in a burst against the model, is held for a lead (the label shown stays)."""

    attempted = "transaction_label"
    input_serializer = LabelInput
    verdict_field = "label"
    service = staticmethod(services.transaction_label)
