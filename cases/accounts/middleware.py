"""Keeps a signed-in user whose role needs a second factor on /auth/2fa/ until verified,
and sends htmx requests that need signing in to a whole sign-in page."""

from urllib.parse import urlencode, urlsplit

from django.conf import settings
from django.http import HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme

from cases.accounts.sign_in import otp_required_for

# Reachable before the second factor: signing in, signing out and the 2FA page itself.
OPEN_URL_NAMES = ("login", "logout", "two-factor")
API_PREFIX = "/api/"


class TwoFactorRequiredMiddleware:
    """Must come after OTPMiddleware, which gives request.user its is_verified()."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = request.user
        if (
            user.is_authenticated
            and not user.is_verified()
            and not self._is_open(request.path)
            and otp_required_for(user)
        ):
            target = reverse("two-factor")
            if request.method == "GET":
                target += "?" + urlencode({"next": request.get_full_path()})
            return redirect(target)
        return self.get_response(request)

    @staticmethod
    def _is_open(path: str) -> bool:
        static_prefix = "/" + settings.STATIC_URL.lstrip("/")
        # The REST API applies the same rule itself (cases.api.authentication: a session not
        # past the second factor is no session there, a 401 problem, and a token still works).
        return path.startswith((static_prefix, API_PREFIX)) or path in {
            reverse(n) for n in OPEN_URL_NAMES
        }


class HtmxFullPageSignInMiddleware:
    """An htmx request sent to the sign-in or second-factor page (the session ended, or the
    second factor is still owed) would swap that page into a fragment of the page the analyst
    is on. Instead htmx is told to load it as a whole page, coming back to that page after.

    Must come before TwoFactorRequiredMiddleware, to see the redirects it makes.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if request.headers.get("HX-Request") != "true" or response.status_code not in (
            301,
            302,
            303,
        ):
            return response
        target = urlsplit(response.get("Location", ""))
        if target.path not in {reverse(name) for name in ("login", "two-factor")}:
            return response
        full_page = HttpResponse(status=204)
        full_page["HX-Redirect"] = f"{target.path}?{urlencode({'next': _page_shown(request)})}"
        return full_page


def _page_shown(request) -> str:
    """The path of the page the htmx request came from (HX-Current-URL), if it is this site's;
    else the home page. Not the request's own path: that is a fragment."""
    current = urlsplit(request.headers.get("HX-Current-URL", ""))
    same_site = url_has_allowed_host_and_scheme(
        current.geturl(), allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )
    if not (current.path and same_site):
        return reverse("home")
    return current.path + (f"?{current.query}" if current.query else "")
