"""Sign-in beyond the password: who needs a second factor, TOTP enrolment and checks, lockouts.

Enrolling an authenticator needs a grant: a one-time enrolment code an admin issued
(otp_enrolment_issue), or a current code from a device the user already has. A password
alone never lets anyone add a device.

A TOTP check that fails raises InvalidInput only after its transaction commits, so the
device's throttling (exponential back-off after wrong codes) is kept, not rolled back.
"""

from __future__ import annotations

import math
from base64 import b32encode

from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from cases.accounts.enrolment import enrolment_code_hash
from cases.accounts.lockouts import current_lockouts, lockout_of
from cases.accounts.roles import ROLES_REQUIRING_OTP, Role, user_roles
from cases.audit.trail import audit_record, model_changes_recorded_by_service, refusals_audited
from cases.errors import InvalidInput
from cases.ips.ipaddr import canonical_ip, parse_ip
from cases.models import AuditAction, OtpEnrolmentCode, UnknownUsernameFailures
from cases.policies import require_permission

# Senders of user_login_failed for a wrong second-factor code and a refused enrolment code
# (Django's own sender is the password check), so the audit trail can tell them apart.
TWO_FACTOR_SENDER = "cases.two_factor"
ENROLMENT_CODE_SENDER = "cases.enrolment_code"
DEVICE_NAME = "Authenticator app"
ENROLMENT_REFUSAL_MESSAGES = {
    "unknown": "that enrolment code is not right; check it, or ask an admin for a new one",
    "expired": "that enrolment code has expired; ask an admin for a new one",
    "used": "that enrolment code was already used; ask an admin for a new one",
    "voided": "a newer enrolment code was issued since; use that one",
    "missing": "set-up needs an enrolment code from an admin; enter it first",
    "device_gone": "the authenticator that approved this set-up is gone; start again",
}

User = get_user_model()
ADDRESS = "sign_in.address"  # the audit trail's object type for a client address


class EnrolmentRefused(InvalidInput):
    """The enrolment code (or the approving device) no longer allows setting up a device."""


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


def otp_enrolment_begin(*, actor, enrolment_code: str) -> OtpEnrolmentCode:
    """Check the actor's enrolment code and give them a fresh pending device to scan.

    The code is not spent here but when the device is confirmed (totp_device_confirm), so a
    reload or a slow scan does not waste it. A wrong, expired, used or voided code is refused
    with InvalidInput and audited OTP_ENROLMENT_REFUSED. The pending device gets a new secret
    each time, so a secret seen before the code was checked is worthless.
    """
    with transaction.atomic():
        record = (
            OtpEnrolmentCode.objects.select_for_update()
            .filter(code_hash=enrolment_code_hash(enrolment_code), user=actor)
            .first()
        )
        reason = "unknown" if record is None else record.refusal_reason()
        if reason is None:
            _fresh_pending_device(actor)
    if reason:
        _enrolment_refused(actor=actor, reason=reason, stage="enrolment_code", record=record)
    return record


def totp_device_add_begin(*, actor, token: str) -> TOTPDevice:
    """Approve adding another authenticator with a current code of one the actor has; returns
    the approving device and gives the actor a fresh pending device to scan.

    Raises InvalidInput for a wrong code or while throttled after wrong codes.
    """
    with transaction.atomic():
        devices = list(
            TOTPDevice.objects.select_for_update().filter(user=actor, confirmed=True).order_by("id")
        )
        if not devices:
            raise InvalidInput("no authenticator is set up for this account")
        approving, refusal = _check_token_of_any(devices, token)
        if refusal is None:
            _fresh_pending_device(actor)
    if refusal:
        raise InvalidInput(refusal)
    return approving


def pending_totp_device(user) -> TOTPDevice | None:
    """The user's device being set up (scanned, not yet confirmed), if any."""
    return TOTPDevice.objects.filter(user=user, confirmed=False).order_by("-id").first()


def totp_secret_base32(device: TOTPDevice) -> str:
    """The secret as authenticator apps take it when typed in: base32, in groups of four."""
    secret = b32encode(device.bin_key).decode().rstrip("=")
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


def totp_device_confirm(
    *,
    actor,
    token: str,
    enrolment_code_id: int | None = None,
    approving_device_id: int | None = None,
) -> TOTPDevice:
    """Confirm the actor's pending device with a code from it (audited OTP_DEVICE_CONFIRMED).

    Needs a grant: the enrolment code checked by otp_enrolment_begin (spent here, in the same
    transaction, so it enrols one device once), or a confirmed device of the actor that
    approved the set-up (totp_device_add_begin). A grant no longer valid is refused and
    audited OTP_ENROLMENT_REFUSED. Raises InvalidInput for a wrong code or while throttled.
    """
    record = None
    # OTP_DEVICE_CONFIRMED below is the event: not also a model-change event for the device.
    with transaction.atomic(), model_changes_recorded_by_service():
        if enrolment_code_id is not None:
            record = (
                OtpEnrolmentCode.objects.select_for_update()
                .filter(pk=enrolment_code_id, user=actor)
                .first()
            )
            grant_refusal = "unknown" if record is None else record.refusal_reason()
        elif approving_device_id is not None:
            approving = TOTPDevice.objects.filter(
                pk=approving_device_id, user=actor, confirmed=True
            ).first()
            grant_refusal = None if approving else "device_gone"
        else:
            grant_refusal = "missing"
        refusal = None
        if grant_refusal is None:
            device = (
                TOTPDevice.objects.select_for_update()
                .filter(user=actor, confirmed=False)
                .order_by("-id")
                .first()
            )
            if device is None:
                raise InvalidInput("there is no authenticator set-up in progress; start again")
            refusal = _check_token(device, token)
            if refusal is None:
                device.confirmed = True
                device.save(update_fields=["confirmed"])
                after = {"device": device.name, "type": "totp"}
                if record is not None:
                    record.used_at = timezone.now()
                    record.save(update_fields=["used_at"])
                    after["enrolment_code_id"] = record.pk
                else:
                    after["approved_by_device_id"] = approving_device_id
                audit_record(
                    actor=actor, action=AuditAction.OTP_DEVICE_CONFIRMED, obj=device, after=after
                )
    if grant_refusal:
        _enrolment_refused(actor=actor, reason=grant_refusal, stage="confirm", record=record)
    if refusal:
        raise InvalidInput(refusal)
    return device


def totp_verify(*, actor, token: str) -> TOTPDevice:
    """Check a code against the actor's confirmed devices; audits the completed sign-in.

    Raises InvalidInput for a wrong code or while throttled after wrong codes.
    """
    with transaction.atomic():
        devices = list(
            TOTPDevice.objects.select_for_update().filter(user=actor, confirmed=True).order_by("id")
        )
        if not devices:
            raise InvalidInput("no authenticator is set up for this account")
        device, refusal = _check_token_of_any(devices, token)
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


def _fresh_pending_device(user) -> TOTPDevice:
    """The user's one pending device, with a new secret (created when there is none)."""
    device = (
        TOTPDevice.objects.select_for_update()
        .filter(user=user, confirmed=False)
        .order_by("-id")
        .first()
    )
    if device is None:
        device = TOTPDevice(user=user, name=DEVICE_NAME, confirmed=False)
        device.full_clean(exclude=["user"])
        device.save()
    else:
        device.key = TOTPDevice._meta.get_field("key").get_default()
        device.save(update_fields=["key"])
    return device


def _enrolment_refused(*, actor, reason: str, stage: str, record) -> None:
    """Audit a refused enrolment grant (its own transaction), then raise InvalidInput."""
    audit_record(
        actor=actor,
        action=AuditAction.OTP_ENROLMENT_REFUSED,
        obj=actor,
        after={
            "username": actor.get_username(),
            "stage": stage,
            "reason": reason,
            "enrolment_code_id": record.pk if record is not None else None,
        },
    )
    raise EnrolmentRefused(ENROLMENT_REFUSAL_MESSAGES[reason])


def _check_token_of_any(devices: list[TOTPDevice], token: str) -> tuple[TOTPDevice, str | None]:
    """The device the code is right for and None, else the first device and why not."""
    refusals = []
    for device in devices:
        refusal = _check_token(device, token)
        if refusal is None:
            return device, None
        refusals.append(refusal)
    return devices[0], refusals[0]


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


# --- Lockouts ----------------------------------------------------------------------------------


def lockout_minutes_left(*, username: str, ip_address: str | None) -> int:
    """Whole minutes until this username may try again from this address (at least 1)."""
    lockout = lockout_of(username=username, ip_address=ip_address)
    if lockout is None:
        return math.ceil(settings.AXES_COOLOFF_TIME.total_seconds() / 60)
    return lockout.minutes_left


def user_unlock(*, actor, username: str) -> int:
    """Clear every failed sign-in counted against the username, from every address (audited
    USER_UNLOCKED); returns how many attempt records were cleared.

    Leads and admins: the permission is checked before anything else, so a refusal says nothing
    about the username. Refused when nothing is counted against it. Failures counted against
    an address as a whole are the address's; they also count toward its own, higher limit.
    """
    with refusals_audited(actor=actor, attempted="user_unlock", object_type="auth.user"):
        require_unlocker(actor)
        username = (username or "").strip()[:150]
        if not username:
            raise InvalidInput("name the username to unlock")
        with transaction.atomic():
            attempts = AccessAttempt.objects.select_for_update().filter(username=username)
            rows = list(attempts.values("ip_address", "failures_since_start"))
            if not rows:
                raise InvalidInput(f"no failed sign-ins are counted against {username!r}")
            pairs, _ = current_lockouts(username=username)
            attempts.delete()
            user = User.objects.filter(**{User.USERNAME_FIELD: username}).first()
            audit_record(
                actor=actor,
                action=AuditAction.USER_UNLOCKED,
                obj=user,
                object_type="auth.user",
                object_repr=username,
                before={
                    "failures": sum(row["failures_since_start"] for row in rows),
                    "locked_from": sorted(str(lock.ip_address) for lock in pairs),
                },
                after={"username": username, "failures": 0, "known_user": user is not None},
            )
            return len(rows)


def sign_in_address_unlock(*, actor, ip_address: str) -> int:
    """Clear every failed sign-in counted from the address, for every username (audited
    USER_UNLOCKED, object type sign_in.address); returns how many attempt records were cleared.

    For an office whose shared address was locked. Leads and admins, checked first; refused
    for text that is not an address, or when nothing is counted from it.
    """
    with refusals_audited(actor=actor, attempted="sign_in_address_unlock", object_type=ADDRESS):
        require_unlocker(actor)
        address = parse_ip(ip_address)
        if address is None:
            raise InvalidInput("name the network address (IPv4 or IPv6) to unlock")
        ip_address = canonical_ip(address)
        with transaction.atomic():
            attempts = AccessAttempt.objects.select_for_update().filter(ip_address=ip_address)
            rows = list(attempts.values("username", "failures_since_start"))
            if not rows:
                raise InvalidInput(f"no failed sign-ins are counted from {ip_address}")
            attempts.delete()
            audit_record(
                actor=actor,
                action=AuditAction.USER_UNLOCKED,
                object_type=ADDRESS,
                object_id=ip_address,
                object_repr=ip_address,
                before={
                    "failures": sum(row["failures_since_start"] for row in rows),
                    "usernames": len({row["username"] for row in rows}),
                },
                after={"ip_address": ip_address, "failures": 0},
            )
            return len(rows)


def may_unlock_users(actor) -> bool:
    """Leads (assign_case) and admins (manage_users, and assign_case too)."""
    return bool(
        actor is not None
        and actor.is_active
        and (actor.has_perm("cases.assign_case") or actor.has_perm("cases.manage_users"))
    )


def require_unlocker(actor) -> None:
    """Raise ActionNotPermitted unless the actor is a lead or an admin (may_unlock_users)."""
    if not may_unlock_users(actor):
        require_permission(actor, "assign_case", attempted="unlock users")  # raises


def unknown_username_failure_count(*, client_ip: str | None, locked_out: bool) -> None:
    """Count a failed sign-in of a username nobody has, per address and hour, outside the
    audit chain (one upsert: no chain lock, and one row per address and hour at most)."""
    address = parse_ip(client_ip)
    now = timezone.now()
    table = UnknownUsernameFailures._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {table} AS tally
                (client_ip, hour, failures, refused_while_locked, last_failure_at)
            VALUES (%s, %s, 1, %s, %s)
            ON CONFLICT (client_ip, hour) DO UPDATE SET
                failures = tally.failures + 1,
                refused_while_locked = tally.refused_while_locked
                    + EXCLUDED.refused_while_locked,
                last_failure_at = EXCLUDED.last_failure_at
            """,
            [
                canonical_ip(address) if address else "",
                now.replace(minute=0, second=0, microsecond=0),
                int(locked_out),
                now,
            ],
        )
