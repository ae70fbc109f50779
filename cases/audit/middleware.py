"""What a request gives the audit events it records: a server-made request id, the client IP
(through trusted proxies only), and the signed-in user as actor of model changes.

CurrentActorMiddleware goes after AuthenticationMiddleware. The user is read when an event is
recorded, not at the start: signing in replaces request.user half-way through a request.
"""

import re
import uuid

from cases.audit.client_ip import client_ip
from cases.audit.trail import (
    reset_request_context,
    reset_request_user,
    set_request_context,
    set_request_user,
)

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


class CurrentActorMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        token = set_request_user(lambda: getattr(request, "user", None))
        try:
            return self.get_response(request)
        finally:
            reset_request_user(token)
