"""Request hygiene: a server-made request id and the client IP for the audit events a request
records, and no caching of what a signed-in user is shown."""

import re
import uuid

from django.utils.cache import add_never_cache_headers

from cases.audit import reset_request_context, set_request_context
from cases.client_ip import client_ip

# What a client sends as X-Request-ID is kept for correlation only: printable, short.
_CLIENT_REQUEST_ID_UNSAFE = re.compile(r"[^\x21-\x7e]")


class AuditContextMiddleware:
    """The request id is made here, never taken from the client: a client's X-Request-ID is
    stored apart (client_request_id). The server's id goes back in the X-Request-ID header."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request_id = uuid.uuid4().hex
        client_request_id = _CLIENT_REQUEST_ID_UNSAFE.sub(
            "", request.headers.get("X-Request-ID", "")
        )[:64]
        request.request_id = request_id
        token = set_request_context(
            request_id=request_id,
            client_ip=client_ip(request),
            client_request_id=client_request_id,
        )
        try:
            response = self.get_response(request)
        finally:
            reset_request_context(token)
        response["X-Request-ID"] = request_id
        return response


class NoStoreForSignedInMiddleware:
    """Every response to a signed-in user may hold case data (pages, exports, attachments):
    no browser or proxy cache keeps it. Static files never get here (whitenoise answers first)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            add_never_cache_headers(response)
        return response
