"""Binds each request's id and client IP to the audit events it records."""

from cases.audit import reset_request_context, set_request_context


class AuditContextMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request_id = request.headers.get("X-Request-ID", "")[:64]
        token = set_request_context(
            request_id=request_id, client_ip=request.META.get("REMOTE_ADDR")
        )
        try:
            response = self.get_response(request)
        finally:
            reset_request_context(token)
        return response
