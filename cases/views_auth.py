"""Second-factor pages (enrol a TOTP app, or enter its code) and the lockout page."""

import django_otp
import segno
from axes.handlers.proxy import AxesProxyHandler
from django import forms
from django.conf import settings
from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.contrib.auth.signals import user_login_failed
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.text import capfirst
from django.views.decorators.cache import never_cache

from cases.errors import InvalidInput
from cases.services import sign_in


class OneTimeCodeForm(forms.Form):
    otp_token = forms.CharField(
        label="6-digit code from your authenticator app",
        max_length=16,
        widget=forms.TextInput(
            attrs={
                "autocomplete": "one-time-code",
                "inputmode": "numeric",
                "autofocus": True,
                "aria-describedby": "otp-help",
            }
        ),
    )

    def clean_otp_token(self) -> str:
        code = self.cleaned_data["otp_token"].replace(" ", "")
        if not (code.isdecimal() and len(code) == 6):
            raise forms.ValidationError("Enter the 6 digits your authenticator app shows.")
        return code


@never_cache
@login_required
def two_factor(request):
    """Enrolment when the user has no confirmed device yet, otherwise the code check."""
    user = request.user
    next_url = _safe_next_url(request)
    if user.is_verified() or not sign_in.otp_required_for(user):
        return redirect(next_url)
    credentials = {"username": user.get_username()}
    if AxesProxyHandler.is_locked(request, credentials):
        logout(request)
        return locked_out(request, credentials=credentials)

    enrolling = sign_in.confirmed_totp_device(user) is None
    form = OneTimeCodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        code = form.cleaned_data["otp_token"]
        try:
            if enrolling:
                device = sign_in.totp_device_confirm(actor=user, token=code)
            else:
                device = sign_in.totp_verify(actor=user, token=code)
        except InvalidInput as error:
            form.add_error("otp_token", capfirst(error.message) + ".")
            # A wrong code counts toward the same lockout as a wrong password.
            user_login_failed.send(
                sender=sign_in.TWO_FACTOR_SENDER, credentials=credentials, request=request
            )
            if getattr(request, "axes_locked_out", False):
                logout(request)
                return locked_out(request, credentials=credentials)
        else:
            django_otp.login(request, device)
            request.session.cycle_key()  # a new session id for the now fully signed-in session
            return redirect(next_url)

    context = {"form": form, "next": next_url}
    if enrolling:
        device = sign_in.totp_enrolment_start(actor=user)
        qr_code = segno.make(device.config_url, error="m")
        context |= {
            "secret": sign_in.totp_secret_base32(device),
            "qr_svg": qr_code.svg_inline(scale=4, light="#fff", svgclass="qr-code"),
        }
        return render(request, "registration/two_factor_enrol.html", context)
    return render(request, "registration/two_factor_verify.html", context)


def locked_out(request, original_response=None, credentials=None):
    """The page for a locked-out username (axes calls this as AXES_LOCKOUT_CALLABLE)."""
    username = (credentials or {}).get("username") or request.POST.get("username", "")
    context = {
        "minutes": sign_in.lockout_minutes_left(username),
        "failure_limit": settings.AXES_FAILURE_LIMIT,
    }
    return render(request, "registration/locked_out.html", context, status=429)


def _safe_next_url(request) -> str:
    next_url = request.POST.get("next") or request.GET.get("next") or ""
    if next_url and url_has_allowed_host_and_scheme(
        next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return next_url
    return reverse(settings.LOGIN_REDIRECT_URL)
