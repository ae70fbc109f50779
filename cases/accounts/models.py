"""Sign-in records kept apart from the audit chain: two-factor enrolment codes, and the tally of
failed sign-ins of usernames nobody has."""

from django.conf import settings
from django.db import models
from django.utils import timezone


class OtpEnrolmentCode(models.Model):
    """A one-time code an admin issued so that one user may enrol an authenticator app.

    Only the sha256 of the code is kept (codes are 80 random bits, so no salt or stretching is
    needed); the plain code is shown once, when issued. A code is good until it expires, is
    used (a device confirmed with it) or is voided (a newer code was issued for the user).
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="otp_enrolment_codes"
    )
    code_hash = models.CharField(max_length=64, unique=True)
    issued_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    issued_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    voided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["user", "-issued_at"], name="otp_enrolment_user_idx")]

    def __str__(self) -> str:
        return f"enrolment code {self.pk} for user {self.user_id}"

    def refusal_reason(self, now=None) -> str | None:
        """None while the code may be used, else "used", "voided" or "expired"."""
        now = now or timezone.now()
        if self.used_at is not None:
            return "used"
        if self.voided_at is not None:
            return "voided"
        if self.expires_at <= now:
            return "expired"
        return None


class UnknownUsernameFailures(models.Model):
    """Failed sign-ins of usernames nobody has, counted per client IP and hour.

    Outside the hash-chained trail on purpose: anyone can send these, so one chained event each
    would let a stranger grow the trail without bound and queue every audited write behind the
    chain's lock. One row per address and hour, its counters raised by an upsert.
    """

    client_ip = models.CharField(max_length=45, blank=True)  # "" when the server saw none
    hour = models.DateTimeField()
    failures = models.PositiveIntegerField(default=0)
    # Of those, how many ended in a lockout: the one reaching a limit, and any sent while locked.
    refused_while_locked = models.PositiveIntegerField(default=0)
    last_failure_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["client_ip", "hour"], name="unknown_username_failures_ip_hour"
            )
        ]
        verbose_name_plural = "unknown-username failures"

    def __str__(self) -> str:
        return f"{self.client_ip or '?'} at {self.hour:%Y-%m-%d %H}:00: {self.failures}"


class ApiToken(models.Model):
    """A user's key to the REST API. Only the sha256 of the secret is kept: the whole token
    (fc_<prefix>_<secret>) is shown once, when created. Read-only tokens make no change; a
    token stops working when it expires or is revoked (kept for the trail, never deleted)."""

    class Scope(models.TextChoices):
        READ = "read", "Read only"
        WRITE = "write", "Read and write"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, unique=True)  # public: finds the row, shown in lists
    secret_hash = models.CharField(max_length=64)
    scope = models.CharField(max_length=8, choices=Scope.choices, default=Scope.READ)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"token {self.prefix} of {self.user_id} ({self.scope})"

    def usable(self, now=None) -> bool:
        now = now or timezone.now()
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)
