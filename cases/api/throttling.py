"""Request limits: per API token (or signed-in user) and per client address, whichever runs
out first; past either, 429 with Retry-After (rates: FRAUDCASE_API_RATE_PER_TOKEN, _PER_IP)."""

from rest_framework.throttling import SimpleRateThrottle

from cases.accounts.models import ApiToken
from cases.audit.client_ip import client_ip


class PerTokenThrottle(SimpleRateThrottle):
    scope = "token"

    def get_cache_key(self, request, view):
        if isinstance(request.auth, ApiToken):
            ident = f"token:{request.auth.prefix}"
        elif request.user and request.user.is_authenticated:
            ident = f"user:{request.user.pk}"
        else:
            return None
        return self.cache_format % {"scope": self.scope, "ident": ident}


class PerAddressThrottle(SimpleRateThrottle):
    scope = "address"

    def get_cache_key(self, request, view):
        # The trusted-proxy rule of the audit trail, not X-Forwarded-For as the client says.
        return self.cache_format % {
            "scope": self.scope,
            "ident": client_ip(request._request) or "-",
        }
