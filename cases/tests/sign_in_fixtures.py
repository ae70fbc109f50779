"""Builders for sign-in tests: users with a known password, the real login form, TOTP codes."""

from __future__ import annotations

from datetime import timedelta

from django.urls import reverse
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from cases.accounts.enrolment import otp_enrolment_issue
from cases.accounts.users import user_create
from cases.audit.trail import system_actor
from cases.models import AuditEvent

PASSWORD = "correct-horse-battery-9"
CLIENT_IP = "203.0.113.7"


def make_user(username: str, roles: list[str], **extra):
    return user_create(
        actor=system_actor(), username=username, password=PASSWORD, roles=roles, **extra
    )


def sign_in(web, username: str, password: str = PASSWORD):
    return web.post(reverse("login"), {"username": username, "password": password})


def current_code(device: TOTPDevice) -> str:
    return f"{totp(device.bin_key, device.step, device.t0, device.digits, device.drift):06d}"


def wrong_code(device: TOTPDevice) -> str:
    return f"{(int(current_code(device)) + 1) % 10**6:06d}"


def events(action, **filters):
    return list(AuditEvent.objects.filter(action=action, **filters).order_by("id"))


def issue_code(user, hours: int = 24) -> str:
    """A fresh enrolment code for user, issued by the system actor (as the commands do)."""
    return otp_enrolment_issue(
        actor=system_actor(), user_id=user.pk, ttl=timedelta(hours=hours)
    ).code
