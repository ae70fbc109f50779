"""Sign-in beyond the password: who needs a second factor, TOTP enrolment and checks, lockouts.

A TOTP check that fails raises InvalidInput only after its transaction commits, so the
device's throttling (exponential back-off after wrong codes) is kept, not rolled back.
"""

from __future__ import annotations

import math
from base64 import b32encode

from django.conf import settings
from django.db import transaction
from django.db.models import Max
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from cases.audit import audit_record
from cases.errors import InvalidInput
from cases.models import AuditAction
from cases.roles import ROLES_REQUIRING_OTP, Role, user_roles

# Sender of user_login_failed for a wrong second-factor code (Django's own sender is the
# password check), so the audit trail can tell the two apart.
TWO_FACTOR_SENDER = "cases.two_factor"
DEVICE_NAME = "Authenticator app"


def otp_required_for(user) -> bool:
    """Leads, auditors, admins and superusers need a second factor; analysts when configured."""
    if not user or not user.is_authenticated:
        return False
    if user.is_superuser:
        return True
    roles = user_roles(user)
    if roles & set(ROLES_REQUIRING_OTP):
        return True
    return Role.ANALYST in roles and settings.FRAUDCASE_REQUIRE_OTP_FOR_ANALYSTS


def confirmed_totp_device(user) -> TOTPDevice | None:
    return TOTPDevice.objects.filter(user=user, confirmed=True).order_by("id").first()


def totp_enrolment_start(*, actor) -> TOTPDevice:
    """The actor's pending (unconfirmed) TOTP device, created on first call.

    The same secret is returned until it is confirmed, so reloading the page does not
    invalidate a QR code already scanned. Not audited: nothing counts until confirmation.
    """
    with transaction.atomic():
        device = (
            TOTPDevice.objects.select_for_update()
            .filter(user=actor, confirmed=False)
            .order_by("id")
            .first()
        )
        if device is None:
            device = TOTPDevice(user=actor, name=DEVICE_NAME, confirmed=False)
            device.full_clean(exclude=["user"])
            device.save()
        return device


def totp_secret_base32(device: TOTPDevice) -> str:
    """The secret as authenticator apps take it when typed in: base32, in groups of four."""
    secret = b32encode(device.bin_key).decode().rstrip("=")
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


def totp_device_confirm(*, actor, token: str) -> TOTPDevice:
    """Confirm the actor's pending device with a code from it (audited OTP_DEVICE_CONFIRMED).

    Raises InvalidInput for a wrong code or while throttled after wrong codes.
    """
    with transaction.atomic():
        device = (
            TOTPDevice.objects.select_for_update()
            .filter(user=actor, confirmed=False)
            .order_by("id")
            .first()
        )
        if device is None:
            raise InvalidInput("there is no authenticator set-up in progress; reload the page")
        refusal = _check_token(device, token)
        if refusal is None:
            device.confirmed = True
            device.save(update_fields=["confirmed"])
            audit_record(
                actor=actor,
                action=AuditAction.OTP_DEVICE_CONFIRMED,
                obj=device,
                after={"device": device.name, "type": "totp"},
            )
    if refusal:
        raise InvalidInput(refusal)
    return device


def totp_verify(*, actor, token: str) -> TOTPDevice:
    """Check a code against the actor's confirmed device; audits the completed sign-in.

    Raises InvalidInput for a wrong code or while throttled after wrong codes.
    """
    with transaction.atomic():
        device = (
            TOTPDevice.objects.select_for_update()
            .filter(user=actor, confirmed=True)
            .order_by("id")
            .first()
        )
        if device is None:
            raise InvalidInput("no authenticator is set up for this account")
        refusal = _check_token(device, token)
        if refusal is None:
            audit_record(
                actor=actor,
                action=AuditAction.SIGN_IN,
                obj=actor,
                after={"username": actor.get_username(), "stage": "two_factor"},
            )
    if refusal:
        raise InvalidInput(refusal)
    return device


def _check_token(device: TOTPDevice, token: str) -> str | None:
    """None when the code is right, else why not (the device records the failure)."""
    allowed, throttle = device.verify_is_allowed()
    if not allowed:
        locked_until = throttle.get("locked_until") or timezone.now()
        wait = math.ceil((locked_until - timezone.now()).total_seconds())
        return f"too many wrong codes: wait {max(wait, 1)} seconds before the next try"
    if not device.verify_token((token or "").replace(" ", "")):
        return "that code is not right (or was already used); try the current one"
    return None


def lockout_minutes_left(username: str) -> int:
    """Whole minutes until a locked-out username may try again (at least 1)."""
    from axes.models import AccessAttempt

    cool_off = settings.AXES_COOLOFF_TIME
    last_failure = AccessAttempt.objects.filter(username=username).aggregate(
        last=Max("attempt_time")
    )["last"]
    if last_failure is None:
        return math.ceil(cool_off.total_seconds() / 60)
    remaining = (last_failure + cool_off - timezone.now()).total_seconds()
    return max(1, math.ceil(remaining / 60))
