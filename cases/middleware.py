"""No caching of what a signed-in user is shown (the audit's request middleware is in
cases/audit/middleware.py)."""

from django.utils.cache import add_never_cache_headers


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
