"""What every API change to a case has in common: the case's ETag as a precondition, one
transaction, refusals audited, the answer.

A POST that changes a case must send `If-Match: <the case's ETag>`: none is a 428, a stale one a
412 carrying the current ETag and case. The check and the change are one transaction: the case
is locked (in the services' lock order), its full ETag compared under that lock, and the
version the ETag names passed to the service as expected_version, whose StaleVersion is a 412
too. So no change lands between the check and the write. Idempotency-Key is honoured
(cases.api.idempotency) in the same transaction.
"""

from __future__ import annotations

from django.db import transaction
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse
from rest_framework import exceptions, status
from rest_framework.response import Response

from cases.api.errors import PROBLEM_SCHEMA, problem_response
from cases.api.idempotency import HEADER as IDEMPOTENCY_HEADER
from cases.api.idempotency import respond_once
from cases.api.serializers import CaseDetailSerializer, case_etag
from cases.errors import CaseNotVisible, NotFound, StaleVersion
from cases.locking import lock_transactions_with_cases
from cases.models import Case, Transaction, parse_case_reference
from cases.policies import can_view_case
from cases.workflow.selectors import case_for_sync
from cases.workflow.services.common import lock_case

REFERENCE = OpenApiParameter(
    "reference", OpenApiTypes.STR, OpenApiParameter.PATH, description="FC-000123 (or 123)"
)
IF_MATCH = OpenApiParameter(
    "If-Match", OpenApiTypes.STR, OpenApiParameter.HEADER, required=True,
    description="the case's current ETag (GET /api/v1/cases/<reference>/): 428 without it, "
    "412 with the current ETag and case when it is stale",
)  # fmt: skip
IDEMPOTENCY_KEY = OpenApiParameter(
    IDEMPOTENCY_HEADER, OpenApiTypes.STR, OpenApiParameter.HEADER, required=False,
    description="retrying with the same key and body acts once and returns the first answer; "
    "the same key with another body is a 422",
)  # fmt: skip
CHANGE_PROBLEMS = {
    code: PROBLEM_SCHEMA for code in (400, 401, 403, 404, 409, 413, 415, 422, 428, 429)
} | {
    412: OpenApiResponse(
        PROBLEM_SCHEMA.response,
        description="the If-Match is stale: problem details with `etag` and `case`, the case "
        "as it is now",
    )
}  # fmt: skip
CASE_ANSWER = OpenApiResponse(CaseDetailSerializer, description="the case as it is now (ETag)")


class PreconditionRequired(exceptions.APIException):
    status_code = status.HTTP_428_PRECONDITION_REQUIRED
    default_code = "precondition_required"
    default_detail = (
        "send If-Match with the case's current ETag (GET /api/v1/cases/<reference>/): changes "
        "are only made to the version of the case you have seen"
    )


def case_id_of(reference: str) -> int:
    try:
        return parse_case_reference(reference)
    except Exception:
        raise exceptions.NotFound("no such case") from None


def lock_visible_case(actor, case_id, *, not_visible: str = "no such case") -> Case:
    """The case locked for this transaction; one the actor may not read is not found."""
    try:
        case = lock_case(case_id)
    except NotFound:
        raise NotFound(not_visible) from None  # the same answer as for a case not theirs
    if not can_view_case(actor, case):
        raise CaseNotVisible(not_visible)
    return case


def expected_version(request, case: Case) -> int:
    """The version the client's If-Match names, once it is the locked case's current ETag."""
    sent = request.headers.get("If-Match", "").strip()
    if not sent or sent == "*":
        raise PreconditionRequired()
    current = case_etag(case)
    tags = [tag.strip().removeprefix("W/") for tag in sent.split(",")]
    if current not in tags:
        stale = StaleVersion(
            f"{case.reference} has changed since the copy you sent If-Match for (it is now "
            f"{current}): fetch it again, then retry"
        )
        stale.case_id = case.pk  # for the 412's current case, whichever URL named it
        raise stale
    return int(current.strip('"').split("-")[1])


def case_response(request, case_id, *, status_code: int = 200) -> Response:
    case = case_for_sync(viewer=request.user, case_id=case_id)
    if case is None:  # no longer the caller's to read
        return Response(status=status.HTTP_204_NO_CONTENT)
    data = CaseDetailSerializer(case).data
    return Response(data, status=status_code, headers={"ETag": data["etag"]})


def stale_response(request, case_id, stale: StaleVersion) -> Response:
    """412 with the case as it is now, so the client can merge and retry."""
    current = case_for_sync(viewer=request.user, case_id=case_id)
    data = CaseDetailSerializer(current).data if current is not None else None
    return problem_response(
        status.HTTP_412_PRECONDITION_FAILED, StaleVersion.code, stale.message,
        headers={"ETag": data["etag"]} if data else None,
        extra={"etag": data["etag"] if data else None, "case": data},
    )  # fmt: skip


class CaseChangeMixin:
    """post() for a change to one case. A subclass says what it changes:

    - attempted: the service's name, for the refusal event;
    - input_serializer: the body (a StrictInputSerializer);
    - lock(request, data, **kwargs) -> (case_id, expected_version): lock and check If-Match
      (default: the case of the URL's reference);
    - perform(request, data, case_id, expected_version, **kwargs) -> Response.
    """

    attempted = ""
    input_serializer = None

    def refusal_target(self, **kwargs) -> dict:
        return {"object_type": "cases.case", "object_id": case_id_of(kwargs["reference"])}

    def lock(self, request, data, **kwargs) -> tuple[int, int]:
        case = lock_visible_case(request.user, case_id_of(kwargs["reference"]))
        return case.pk, expected_version(request, case)

    def read_input(self, request) -> dict:
        serializer = self.input_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data

    def perform(self, request, data, case_id, expected_version, **kwargs) -> Response:
        raise NotImplementedError

    def post(self, request, **kwargs):
        target = self.refusal_target(**kwargs)

        def change() -> Response:
            data = self.read_input(request)
            with transaction.atomic():
                case_id, version = self.lock(request, data, **kwargs)
                self.locked_case_id = case_id
                return self.perform(request, data, case_id, version, **kwargs)

        try:
            return respond_once(
                request, change, refusals={"attempted": self.attempted, **target},
                audit_after_rollback=True,
            )  # fmt: skip
        except StaleVersion as stale:
            case_id = (
                getattr(stale, "case_id", None)
                or getattr(self, "locked_case_id", None)
                or target.get("object_id")
            )
            return stale_response(request, case_id, stale)


def lock_visible_transaction(actor, transaction_id: str) -> Case:
    """The transaction's case, both locked in the services' order (case, then transaction:
    cases.locking); a transaction of a case the actor may not read is not found, like an
    unknown one."""
    missing = f"no transaction {transaction_id!r}"
    _, locked = lock_transactions_with_cases(
        Transaction.objects.filter(transaction_id=transaction_id)
    )
    if not locked:
        raise NotFound(missing)
    if not can_view_case(actor, locked[0].case):
        raise CaseNotVisible(missing)
    return locked[0].case
