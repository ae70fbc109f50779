"""One error format for the whole API: RFC 9457 problem details (application/problem+json).

{"type": "https://fraudcase.dev/problems/<code>", "title": ..., "status": ..., "detail": ...,
 "errors": [{"field": "amount", "message": "..."}]}: every bad field named, nothing half-applied.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.http import Http404
from drf_spectacular.utils import OpenApiResponse, inline_serializer
from rest_framework import exceptions, serializers, status
from rest_framework.response import Response
from rest_framework.views import exception_handler

from cases.errors import CaseError, CaseNotVisible

PROBLEM_TYPE = "https://fraudcase.dev/problems/"
PROBLEM_CONTENT_TYPE = "application/problem+json"

TITLES = {
    400: "Bad request",
    401: "Not signed in",
    403: "Not allowed",
    404: "Not found",
    405: "Method not allowed",
    406: "Not acceptable",
    409: "Conflict",
    412: "Precondition failed",
    413: "Request too large",
    415: "Unsupported media type",
    422: "Unprocessable request",
    428: "Precondition required",
    429: "Too many requests",
    503: "Service unavailable",
}


def problem_response(
    status_code: int, code: str, detail: str, *, errors=None, headers=None, extra=None
) -> Response:
    body = {
        "type": PROBLEM_TYPE + code,
        "title": TITLES.get(status_code, "Error"),
        "status": status_code,
        "detail": detail,
    }
    if errors:
        body["errors"] = errors
    if extra:
        body.update(extra)
    response = Response(body, status=status_code, headers=headers)
    response.content_type = PROBLEM_CONTENT_TYPE
    return response


def field_errors(detail, prefix: str = "") -> list[dict]:
    """DRF's nested validation errors as a flat list of {field, message}."""
    if isinstance(detail, dict):
        return [
            error
            for field, value in detail.items()
            for error in field_errors(value, f"{prefix}.{field}" if prefix else str(field))
        ]
    if isinstance(detail, list):
        if all(isinstance(item, str) for item in detail):
            return [
                {"field": prefix or "non_field_errors", "message": str(item)} for item in detail
            ]
        return [
            error
            for index, item in enumerate(detail)
            for error in field_errors(item, f"{prefix}[{index}]" if prefix else f"[{index}]")
        ]
    return [{"field": prefix or "non_field_errors", "message": str(detail)}]


def api_exception_handler(exc, context):
    """DRF's handler, answering in problem details; the domain's CaseError keeps its code."""
    if isinstance(exc, CaseError):
        code = "not_found" if isinstance(exc, CaseNotVisible) else exc.code
        retry_after = getattr(exc, "retry_after_seconds", None)
        headers = {"Retry-After": str(retry_after)} if retry_after else None
        return problem_response(exc.http_status, code, exc.message, headers=headers)
    if isinstance(exc, RequestDataTooBig):  # refused on its Content-Length, before reading it
        return problem_response(
            status.HTTP_413_REQUEST_ENTITY_TOO_LARGE, "body_too_large",
            f"the body is larger than the server takes: at most "
            f"{settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes (FRAUDCASE_MAX_REQUEST_BYTES)",
        )  # fmt: skip
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    response = exception_handler(exc, context)
    if response is None:
        return None  # an unexpected error: a 500, logged as such
    headers = {
        k: v for k, v in response.items() if k in ("Retry-After", "WWW-Authenticate", "Allow")
    }
    if isinstance(exc, exceptions.ValidationError):
        return problem_response(
            status.HTTP_400_BAD_REQUEST, "invalid_input", "some fields are not valid",
            errors=field_errors(exc.detail), headers=headers,
        )  # fmt: skip
    if isinstance(exc, exceptions.PermissionDenied):
        _audit_denial(context.get("request"), exc)
    code = getattr(exc, "default_code", "error")
    detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
    extra = {"retry_after_seconds": exc.wait} if isinstance(exc, exceptions.Throttled) else None
    return problem_response(response.status_code, code, str(detail), headers=headers, extra=extra)


# The one error body of the API, for the OpenAPI schema.
PROBLEM_SCHEMA = OpenApiResponse(
    inline_serializer(
        "Problem",
        {
            "type": serializers.URLField(),
            "title": serializers.CharField(),
            "status": serializers.IntegerField(),
            "detail": serializers.CharField(),
            "errors": serializers.ListField(
                child=inline_serializer(
                    "FieldError",
                    {"field": serializers.CharField(), "message": serializers.CharField()},
                ),
                required=False,
            ),
        },
    ),
    description="RFC 9457 problem details (application/problem+json)",
)


def _audit_denial(request, exc) -> None:
    """A refusal decided by the API layer itself (a read-only token's write, a role that reads
    no case): audited like the services' own refusals."""
    from cases.audit.trail import audit_record
    from cases.models import AuditAction

    user = getattr(request, "user", None)
    if request is None or user is None or not user.is_authenticated:
        return
    audit_record(
        actor=user,
        action=AuditAction.PERMISSION_DENIED,
        object_repr=request.path[:255],
        after={"attempted": f"{request.method} {request.path}"[:200], "error": "permission_denied",
               "message": str(exc.detail)},
    )  # fmt: skip
