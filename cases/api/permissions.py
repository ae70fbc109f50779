"""The API's gate: a signed-in caller, and a read-only token changes nothing. What each caller
may see and do beyond that is cases.policies' and the services' business, as for the pages."""

from __future__ import annotations

from rest_framework import permissions

from cases.accounts.models import ApiToken
from cases.audit.trail import refusals_audited
from cases.policies import require_permission


class ApiAccess(permissions.BasePermission):
    message = "this token is read-only: it may not change anything"

    def has_permission(self, request, view) -> bool:
        if not (request.user and request.user.is_authenticated):
            return False
        token = request.auth if isinstance(request.auth, ApiToken) else None
        if token is not None and token.scope == ApiToken.Scope.READ:
            return request.method in permissions.SAFE_METHODS
        return True


def require(request, permission: str, *, attempted: str, object_type: str = "") -> None:
    """A 403 (audited, like the pages') for a role that may not read this resource at all."""
    with refusals_audited(actor=request.user, attempted=attempted, object_type=object_type):
        require_permission(request.user, permission, attempted=attempted)
