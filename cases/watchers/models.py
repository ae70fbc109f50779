"""Who follows which case, and the in-app notifications people get (mentions, notes on cases
they follow, reminders of cases waiting on the customer)."""

from django.conf import settings
from django.db import models
from django.utils import timezone


class CaseWatcher(models.Model):
    """A user following a case: they hear about its new notes and reminders."""

    case = models.ForeignKey("cases.Case", on_delete=models.CASCADE, related_name="watchers")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="watched_cases"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["case", "user"], name="case_watcher_once")]

    def __str__(self) -> str:
        return f"{self.user_id} follows {self.case_id}"


class NotificationKind(models.TextChoices):
    MENTION = "mention", "Mentioned you"
    NOTE = "note", "New note on a case you follow"
    REMINDER = "reminder", "Customer's reply is overdue"


class Notification(models.Model):
    """One message to one user about one case; unread until they mark it read.

    dedupe_key makes work that may run twice (the reminder sweep) write each notification once.
    """

    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications"
    )
    kind = models.CharField(max_length=16, choices=NotificationKind.choices)
    case = models.ForeignKey("cases.Case", on_delete=models.CASCADE, related_name="+")
    note = models.ForeignKey(
        "cases.Note", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    actor_name = models.CharField(max_length=150, blank=True)
    message = models.CharField(max_length=500)
    created_at = models.DateTimeField(default=timezone.now)
    read_at = models.DateTimeField(null=True, blank=True)
    dedupe_key = models.CharField(max_length=200, null=True, blank=True, unique=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(
                fields=["recipient"], condition=models.Q(read_at__isnull=True),
                name="notification_unread_idx",
            ),
            models.Index(fields=["recipient", "-created_at"], name="notification_recent_idx"),
        ]  # fmt: skip

    def __str__(self) -> str:
        return f"{self.kind} for {self.recipient_id} on {self.case_id}"
