"""Second-factor pages (enrol a TOTP app with an admin's code, add another, or enter a code),
the lockout page, and the lockouts page where leads and admins unlock users."""

from datetime import timedelta
from urllib.parse import urlencode

import django_otp
import segno
from axes.handlers.proxy import AxesProxyHandler
from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.contrib.auth.signals import user_login_failed
from django.shortcuts import redirect, render
from django.template.defaultfilters import pluralize
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.text import capfirst
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from cases.accounts import sign_in
from cases.accounts.lockouts import address_failure_limit, current_lockouts, lockout_of
from cases.accounts.sign_in import require_unlocker
from cases.audit.trail import refusals_audited
from cases.errors import ActionNotPermitted, CaseError, InvalidInput
from cases.http import problem as _problem
from cases.models import UnknownUsernameFailures

# The lockouts page shows failures of unknown usernames from this far back.
UNKNOWN_USERNAME_WINDOW = timedelta(hours=24)


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


class EnrolmentCodeForm(forms.Form):
    enrolment_code = forms.CharField(
        label="Enrolment code from your admin",
        max_length=32,
        widget=forms.TextInput(
            attrs={
                "autocomplete": "off",
                "autocapitalize": "characters",
                "spellcheck": "false",
                "autofocus": True,
                "aria-describedby": "enrolment-help",
            }
        ),
    )


# What lets this session set up an authenticator: {"code_id": n} (an admin's enrolment code,
# checked) or {"device_id": n} (a confirmed device that approved adding another).
ENROLMENT_GRANT_KEY = "fraudcase_otp_enrolment"


@never_cache
@login_required
def two_factor(request):
    """The code check when the user has a confirmed device; else enrolment, which starts with
    an enrolment code from an admin and only then shows the QR code to scan."""
    user = request.user
    next_url = _safe_next_url(request)
    if user.is_verified() or not sign_in.otp_required_for(user):
        return redirect(next_url)
    credentials = {"username": user.get_username()}
    if AxesProxyHandler.is_locked(request, credentials):
        logout(request)
        return locked_out(request, credentials=credentials)
    if sign_in.confirmed_totp_device(user) is None:
        return _enrol(request, next_url, credentials)

    form = OneTimeCodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            device = sign_in.totp_verify(actor=user, token=form.cleaned_data["otp_token"])
        except InvalidInput as error:
            if refused := _count_failure(request, form, "otp_token", error, credentials):
                return refused
        else:
            return _second_factor_passed(request, device, next_url)
    context = {"form": form, "next": next_url, "form_action": reverse("two-factor")}
    return render(request, "registration/two_factor_verify.html", context)


def _enrol(request, next_url, credentials):
    """First the admin's enrolment code, then the QR code and a code from the new device."""
    user = request.user
    grant = request.session.get(ENROLMENT_GRANT_KEY) or {}
    pending = sign_in.pending_totp_device(user) if grant.get("code_id") else None
    context = {"next": next_url, "form_action": reverse("two-factor")}
    if pending is None:
        form = EnrolmentCodeForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                record = sign_in.otp_enrolment_begin(
                    actor=user, enrolment_code=form.cleaned_data["enrolment_code"]
                )
            except InvalidInput as error:
                if refused := _count_failure(request, form, "enrolment_code", error, credentials):
                    return refused
            else:
                request.session[ENROLMENT_GRANT_KEY] = {"code_id": record.pk}
                return redirect(f"{reverse('two-factor')}?{urlencode({'next': next_url})}")
        return render(
            request, "registration/two_factor_enrolment_code.html", context | {"form": form}
        )

    form = OneTimeCodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            device = sign_in.totp_device_confirm(
                actor=user, token=form.cleaned_data["otp_token"], enrolment_code_id=grant["code_id"]
            )
        except InvalidInput as error:
            if isinstance(error, sign_in.EnrolmentRefused):
                request.session.pop(ENROLMENT_GRANT_KEY, None)
            if refused := _count_failure(request, form, "otp_token", error, credentials):
                return refused
            if isinstance(error, sign_in.EnrolmentRefused):  # ask for a code again
                context |= {"form": EnrolmentCodeForm(), "refusal": capfirst(error.message) + "."}
                return render(request, "registration/two_factor_enrolment_code.html", context)
        else:
            request.session.pop(ENROLMENT_GRANT_KEY, None)
            return _second_factor_passed(request, device, next_url)
    return render(request, "registration/two_factor_enrol.html", context | _scan(pending, form))


@never_cache
@login_required
def add_authenticator(request):
    """Another authenticator for a user who has one: approved with a current code of it."""
    user = request.user
    if sign_in.confirmed_totp_device(user) is None or not user.is_verified():
        return redirect(reverse("two-factor"))
    credentials = {"username": user.get_username()}
    grant = request.session.get(ENROLMENT_GRANT_KEY) or {}
    pending = sign_in.pending_totp_device(user) if grant.get("device_id") else None
    context = {"next": reverse("home"), "form_action": reverse("add-authenticator")}
    form = OneTimeCodeForm(request.POST or None)
    if pending is None:
        if request.method == "POST" and form.is_valid():
            try:
                approving = sign_in.totp_device_add_begin(
                    actor=user, token=form.cleaned_data["otp_token"]
                )
            except InvalidInput as error:
                if refused := _count_failure(request, form, "otp_token", error, credentials):
                    return refused
            else:
                request.session[ENROLMENT_GRANT_KEY] = {"device_id": approving.pk}
                return redirect(reverse("add-authenticator"))
        return render(request, "registration/two_factor_add.html", context | {"form": form})

    if request.method == "POST" and form.is_valid():
        try:
            sign_in.totp_device_confirm(
                actor=user,
                token=form.cleaned_data["otp_token"],
                approving_device_id=grant["device_id"],
            )
        except InvalidInput as error:
            if isinstance(error, sign_in.EnrolmentRefused):
                request.session.pop(ENROLMENT_GRANT_KEY, None)
            if refused := _count_failure(request, form, "otp_token", error, credentials):
                return refused
        else:
            request.session.pop(ENROLMENT_GRANT_KEY, None)
            messages.success(request, "Your new authenticator is set up.")
            return redirect(reverse("home"))
    context["adding"] = True
    return render(request, "registration/two_factor_enrol.html", context | _scan(pending, form))


def _scan(device, form) -> dict:
    qr_code = segno.make(device.config_url, error="m")
    return {
        "form": form,
        "secret": sign_in.totp_secret_base32(device),
        "qr_svg": qr_code.svg_inline(scale=4, light="#fff", svgclass="qr-code"),
    }


def _count_failure(request, form, field: str, error: InvalidInput, credentials):
    """Show the refusal and count it toward the lockout like a wrong password; the lockout
    page (signed out) when this failure reached the limit, else None."""
    form.add_error(field, capfirst(error.message) + ".")
    enrolment = field == "enrolment_code" or isinstance(error, sign_in.EnrolmentRefused)
    sender = sign_in.ENROLMENT_CODE_SENDER if enrolment else sign_in.TWO_FACTOR_SENDER
    user_login_failed.send(sender=sender, credentials=credentials, request=request)
    if getattr(request, "axes_locked_out", False):
        logout(request)
        return locked_out(request, credentials=credentials)
    return None


def _second_factor_passed(request, device, next_url):
    django_otp.login(request, device)
    request.session.cycle_key()  # a new session id for the now fully signed-in session
    return redirect(next_url)


def locked_out(request, original_response=None, credentials=None):
    """The page for a locked-out username or address (axes calls this as AXES_LOCKOUT_CALLABLE)."""
    username = (credentials or {}).get("username") or request.POST.get("username", "")
    ip_address = getattr(request, "axes_ip_address", None)
    lockout = lockout_of(username=username, ip_address=ip_address)
    context = {
        "minutes": sign_in.lockout_minutes_left(username=username, ip_address=ip_address),
        "failure_limit": settings.AXES_FAILURE_LIMIT,
        "address_locked": lockout is not None and not lockout.username,
        "address_failure_limit": address_failure_limit(),
    }
    return render(request, "registration/locked_out.html", context, status=429)


@never_cache
@login_required
def lockouts(request):
    """Current lockouts, for leads and admins, with an Unlock button for each username."""
    try:
        with refusals_audited(actor=request.user, attempted=f"view {request.path}"):
            require_unlocker(request.user)
    except ActionNotPermitted as error:
        return _problem(request, 403, "Not allowed", error.message)
    pairs, addresses = current_lockouts()
    since = timezone.now() - UNKNOWN_USERNAME_WINDOW
    context = {
        "pairs": pairs,
        "addresses": addresses,
        "unknown_failures": UnknownUsernameFailures.objects.filter(hour__gte=since).order_by(
            "-hour", "-failures"
        )[:50],
        "failure_limit": settings.AXES_FAILURE_LIMIT,
        "address_failure_limit": address_failure_limit(),
    }
    return render(request, "registration/lockouts.html", context)


@require_POST
@login_required
def unlock_user(request):
    """Unlock the posted username (user_unlock) or address (sign_in_address_unlock); back to
    the lockouts page with a message."""
    ip_address = request.POST.get("ip_address")
    try:
        if ip_address is not None:
            unlocked = ip_address.strip()
            cleared = sign_in.sign_in_address_unlock(actor=request.user, ip_address=unlocked)
        else:
            unlocked = request.POST.get("username", "").strip()
            cleared = sign_in.user_unlock(actor=request.user, username=unlocked)
    except ActionNotPermitted as error:
        return _problem(request, 403, "Not allowed", error.message)
    except CaseError as error:
        messages.error(request, capfirst(error.message) + ".")
    else:
        messages.success(
            request, f"Unlocked {unlocked} ({cleared} failure record{pluralize(cleared)} cleared)."
        )
    return redirect(reverse("lockouts"))


def _safe_next_url(request) -> str:
    next_url = request.POST.get("next") or request.GET.get("next") or ""
    if next_url and url_has_allowed_host_and_scheme(
        next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return next_url
    return reverse(settings.LOGIN_REDIRECT_URL)
