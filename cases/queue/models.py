"""Saved views of the triage queue: a user's named filter queries."""

from django.conf import settings
from django.db import models
from django.utils import timezone


class SavedQueueView(models.Model):
    """A named query string of the queue page (tab, filters, sort), owned by one user."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="saved_queue_views"
    )
    name = models.CharField(max_length=80)
    query = models.CharField(max_length=2000, blank=True, help_text="the page's query string")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["user", "name"], name="saved_queue_view_unique_name")
        ]

    def __str__(self) -> str:
        return self.name
