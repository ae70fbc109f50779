"""Request limits: per API token (or signed-in user) and per client address, whichever runs
out first; past either, 429 with Retry-After (rates: FRAUDCASE_API_RATE_PER_TOKEN, _PER_IP).

Both limits of a request are read from the cache in one round trip and written back in one
(DRF's SimpleRateThrottle reads and writes each: four round trips on every API call)."""

from rest_framework.throttling import SimpleRateThrottle

from cases.accounts.models import ApiToken
from cases.audit.client_ip import client_ip


class _OneRoundTripThrottle(SimpleRateThrottle):
    """SimpleRateThrottle's rule and histories; the cache reads and writes of a request's
    throttles of this kind are shared (kept on the request)."""

    def allow_request(self, request, view):
        # SimpleRateThrottle.allow_request, reading the history from the shared read.
        if self.rate is None:
            return True
        self.key = self.get_cache_key(request, view)
        if self.key is None:
            return True
        self._request, self._view = request, view
        self.history = list(self._shared()["histories"].get(self.key, []))
        self.now = self.timer()
        while self.history and self.history[-1] <= self.now - self.duration:
            self.history.pop()
        if len(self.history) >= self.num_requests:
            return self.throttle_failure()
        return self.throttle_success()

    def _shared(self) -> dict:
        request, view = self._request, self._view
        shared = getattr(request, "_fraudcase_throttles", None)
        if shared is None:
            throttles = [
                throttle()
                for throttle in view.throttle_classes
                if issubclass(throttle, _OneRoundTripThrottle)
            ]
            keys = [
                key
                for throttle in throttles
                if throttle.rate is not None
                and (key := throttle.get_cache_key(request, view)) is not None
            ]
            shared = {
                "histories": self.cache.get_many(keys) if keys else {},
                "pending": len(keys),
                "writes": {},
                "timeout": 0,
            }
            request._fraudcase_throttles = shared
        return shared

    def throttle_success(self):
        self.history.insert(0, self.now)
        shared = self._shared()
        shared["writes"][self.key] = self.history
        shared["timeout"] = max(shared["timeout"], self.duration)
        self._done(shared)
        return True

    def throttle_failure(self):
        self._done(self._shared())
        return False

    def _done(self, shared: dict) -> None:
        shared["pending"] -= 1
        if shared["pending"] <= 0 and shared["writes"]:
            # Histories are trimmed to each throttle's window when read, so one timeout (the
            # longest window) does for all.
            self.cache.set_many(shared["writes"], shared["timeout"])
            shared["writes"] = {}


class PerTokenThrottle(_OneRoundTripThrottle):
    scope = "token"

    def get_cache_key(self, request, view):
        if isinstance(request.auth, ApiToken):
            ident = f"token:{request.auth.prefix}"
        elif request.user and request.user.is_authenticated:
            ident = f"user:{request.user.pk}"
        else:
            return None
        return self.cache_format % {"scope": self.scope, "ident": ident}


class PerAddressThrottle(_OneRoundTripThrottle):
    scope = "address"

    def get_cache_key(self, request, view):
        # The trusted-proxy rule of the audit trail, not X-Forwarded-For as the client says.
        return self.cache_format % {
            "scope": self.scope,
            "ident": client_ip(request._request) or "-",
        }
