"""Sign-in, sign-out, failed sign-ins and lockouts, each written to the audit trail as one event.

Django and axes announce these through signals (there is no service of ours in their path), so
the receivers only record what was reported; they decide nothing. Connected in CasesConfig.ready.
The client IP and request id come from AuditContextMiddleware, like every other event.

Failures (and lockouts) of usernames nobody has are counted per address and hour outside the
chain instead (unknown_username_failure_count): anyone can send them, as fast as they like.
"""

from django.conf import settings
from django.contrib.auth import get_user_model

from cases.accounts.lockouts import address_failure_limit
from cases.accounts.sign_in import (
    ENROLMENT_CODE_SENDER,
    TWO_FACTOR_SENDER,
    otp_required_for,
    unknown_username_failure_count,
)
from cases.audit.trail import audit_record
from cases.models import AuditAction

USER_OBJECT_TYPE = "auth.user"


def audit_signed_in(sender, request, user, **kwargs) -> None:
    """Password accepted; second_factor_required says whether a TOTP check still follows."""
    audit_record(
        actor=user,
        action=AuditAction.SIGN_IN,
        obj=user,
        after={
            "username": user.get_username(),
            "stage": "password",
            "second_factor_required": otp_required_for(user),
        },
    )


def audit_signed_out(sender, request, user, **kwargs) -> None:
    if user is None:  # logging out a session that was not signed in
        return
    audit_record(
        actor=user, action=AuditAction.SIGN_OUT, obj=user, after={"username": user.get_username()}
    )


def audit_sign_in_failed(sender, credentials, request=None, **kwargs) -> None:
    """Wrong password or second-factor code: the username tried, never the password."""
    username_field = get_user_model().USERNAME_FIELD
    username = str(credentials.get(username_field) or credentials.get("username") or "")[:150]
    # axes has already counted this failure (its receiver is connected first)
    locked_out = bool(getattr(request, "axes_locked_out", False))
    if sender == ENROLMENT_CODE_SENDER:
        return  # the enrolment service audited it (OTP_ENROLMENT_REFUSED); axes counted it
    user = _known_user(username)
    if user is None:
        unknown_username_failure_count(
            client_ip=getattr(request, "axes_ip_address", None), locked_out=locked_out
        )
        return
    audit_record(
        actor=user,
        action=AuditAction.SIGN_IN_FAILED,
        obj=user,
        object_type=USER_OBJECT_TYPE,
        after={
            "username": username,
            "stage": "two_factor" if sender == TWO_FACTOR_SENDER else "password",
            "locked_out": locked_out,
        },
    )


def audit_locked_out(sender, request, username, ip_address, **kwargs) -> None:
    """axes locked the username or the address (or refused it while locked): recorded as a
    denied sign-in of a known user; an unknown one is counted with its failure."""
    username = str(username or "")[:150]
    user = _known_user(username)
    if user is None:
        return
    audit_record(
        actor=user,
        action=AuditAction.PERMISSION_DENIED,
        obj=user,
        object_type=USER_OBJECT_TYPE,
        after={
            "attempted": "sign_in",
            "error": "locked_out",
            "username": username,
            "failure_limit": settings.AXES_FAILURE_LIMIT,
            "address_failure_limit": address_failure_limit(),
            "lockout_minutes": settings.FRAUDCASE_LOCKOUT_MINUTES,
        },
    )


def _known_user(username: str):
    if not username:
        return None
    return get_user_model().objects.filter(**{get_user_model().USERNAME_FIELD: username}).first()
