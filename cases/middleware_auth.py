"""Keeps a signed-in user whose role needs a second factor on /accounts/2fa/ until verified."""

from urllib.parse import urlencode

from django.conf import settings
from django.shortcuts import redirect
from django.urls import reverse

from cases.services.sign_in import otp_required_for

# Reachable before the second factor: signing in, signing out and the 2FA page itself.
OPEN_URL_NAMES = ("login", "logout", "two-factor")


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
        return path.startswith(static_prefix) or path in {reverse(n) for n in OPEN_URL_NAMES}
