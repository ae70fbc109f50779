"""Who calls the API: a bearer API token (machines, scripts) or the signed-in session (the
browsable API, behind the same two-factor rule as the pages)."""

from __future__ import annotations

from drf_spectacular.authentication import SessionScheme
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from cases.accounts.tokens import api_token_for
from cases.audit.trail import bind_api_token


class ApiTokenAuthentication(authentication.BaseAuthentication):
    """Authorization: Bearer fc_<prefix>_<secret>. A wrong, expired or revoked token is a 401
    with one message for all (nothing tells which part was wrong)."""

    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header:
            return None
        keyword, _, value = header.partition(" ")
        if keyword.lower() != self.keyword.lower():
            return None
        token = api_token_for(value.strip())
        if token is None:
            raise exceptions.AuthenticationFailed("the API token is unknown, expired or revoked")
        bind_api_token(token.prefix)  # every event of this request names the token
        return token.user, token

    def authenticate_header(self, request) -> str:
        return f'{self.keyword} realm="fraudcase"'


class VerifiedSessionAuthentication(authentication.SessionAuthentication):
    """The pages' session, for the browsable API: only once the second factor is passed where
    the role needs one (the pages' own rule), and never for a service account."""

    def authenticate(self, request):
        from cases.accounts.roles import is_service_account
        from cases.accounts.sign_in import otp_required_for

        result = super().authenticate(request)
        if result is None:
            return None
        user = result[0]
        if is_service_account(user):
            return None
        verified = getattr(request._request.user, "is_verified", lambda: False)()
        if otp_required_for(user) and not verified:
            return None
        return result


class ApiTokenScheme(OpenApiAuthenticationExtension):
    target_class = "cases.api.authentication.ApiTokenAuthentication"
    name = "apiToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "an API token, fc_<prefix>_<secret> (created on /auth/tokens/)",
        }


class VerifiedSessionScheme(SessionScheme):
    target_class = "cases.api.authentication.VerifiedSessionAuthentication"
