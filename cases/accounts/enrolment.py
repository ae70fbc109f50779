"""Two-factor enrolment codes and device resets: what an admin does so a user may enrol.

A user enrols an authenticator with a one-time code an admin issued (or a current code of a
device they already have, see cases.accounts.sign_in); a stolen password alone is not enough.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone
from django_otp import devices_for_user
from django_otp.plugins.otp_totp.models import TOTPDevice

from cases.accounts.users import require_user_manager
from cases.audit.trail import audit_record, model_changes_recorded_by_service, refusals_audited
from cases.errors import InvalidInput, NotFound
from cases.models import AuditAction, OtpEnrolmentCode

# 16 characters of 32 (no I, O, 0 or 1 to misread): 80 random bits.
ENROLMENT_CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
ENROLMENT_CODE_LENGTH = 16
ENROLMENT_CODE_TTL_RANGE = (timedelta(minutes=10), timedelta(days=30))

User = get_user_model()


@dataclass(frozen=True)
class IssuedEnrolmentCode:
    """An enrolment code as issued: the plain code exists only here, never in the database."""

    code: str
    expires_at: datetime
    record: OtpEnrolmentCode


def otp_enrolment_issue(*, actor, user_id: int, ttl: timedelta) -> IssuedEnrolmentCode:
    """A new one-time enrolment code for the user, valid for ttl (audited OTP_ENROLMENT_ISSUED).

    Admins (manage_users) and the system actor only. The plain code is returned once and only
    its hash is stored; any older unused code of the user is voided.
    """
    with refusals_audited(
        actor=actor, attempted="otp_enrolment_issue", object_type="auth.user", object_id=user_id
    ):
        require_user_manager(actor, attempted="issue two-factor enrolment codes")
        low, high = ENROLMENT_CODE_TTL_RANGE
        if not low <= ttl <= high:
            raise InvalidInput(
                f"an enrolment code must be valid between {low} and {high.days} days"
            )
        with transaction.atomic():
            user = User.objects.select_for_update().filter(pk=user_id).first()
            if user is None:
                raise NotFound(f"no user with id {user_id}")
            if not user.is_active:
                raise InvalidInput(f"{user.get_username()} is not active")
            now = timezone.now()
            voided = OtpEnrolmentCode.objects.filter(
                user=user, used_at__isnull=True, voided_at__isnull=True
            ).update(voided_at=now)
            code = "".join(
                secrets.choice(ENROLMENT_CODE_ALPHABET) for _ in range(ENROLMENT_CODE_LENGTH)
            )
            code = "-".join(code[i : i + 4] for i in range(0, ENROLMENT_CODE_LENGTH, 4))
            record = OtpEnrolmentCode(
                user=user,
                code_hash=enrolment_code_hash(code),
                issued_by=actor,
                issued_at=now,
                expires_at=now + ttl,
            )
            record.full_clean()
            record.save()
            audit_record(
                actor=actor,
                action=AuditAction.OTP_ENROLMENT_ISSUED,
                obj=user,
                after={
                    "username": user.get_username(),
                    "enrolment_code_id": record.pk,
                    "expires_at": record.expires_at,
                    "voided_codes": voided,
                    "has_device": TOTPDevice.objects.filter(user=user, confirmed=True).exists(),
                },
            )
            return IssuedEnrolmentCode(code=code, expires_at=record.expires_at, record=record)


def otp_devices_reset(*, actor, user_id: int) -> int:
    """Delete every two-factor device of the user (audited OTP_DEVICES_RESET); returns how many.

    Admins (manage_users) and the system actor only. The user's sessions lose their second
    factor at the next request (their device is gone), and signing in again needs a new
    enrolment code. Refused when the user has no device.
    """
    with refusals_audited(
        actor=actor, attempted="otp_devices_reset", object_type="auth.user", object_id=user_id
    ):
        require_user_manager(actor, attempted="reset two-factor devices")
        # One OTP_DEVICES_RESET event, not one model-change event per deleted device.
        with transaction.atomic(), model_changes_recorded_by_service():
            user = User.objects.select_for_update().filter(pk=user_id).first()
            if user is None:
                raise NotFound(f"no user with id {user_id}")
            devices = list(devices_for_user(user, confirmed=None, for_verify=True))
            if not devices:
                raise InvalidInput(f"{user.get_username()} has no two-factor device to reset")
            before = sorted(
                (f"{device.name} ({'confirmed' if device.confirmed else 'pending'})")
                for device in devices
            )
            for device in devices:
                device.delete()
            audit_record(
                actor=actor,
                action=AuditAction.OTP_DEVICES_RESET,
                obj=user,
                before={"devices": before},
                after={"devices": []},
            )
            return len(devices)


def enrolment_code_hash(code: str) -> str:
    """sha256 of the code as typed, ignoring case, spaces and dashes."""
    normalised = "".join(ch for ch in (code or "").upper() if ch not in " -\t")
    return hashlib.sha256(normalised.encode()).hexdigest()
