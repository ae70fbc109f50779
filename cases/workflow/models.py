"""How cases are worked: queues with SLAs, reason codes, tags, notes and attachments."""

from django.conf import settings
from django.db import models
from django.utils import timezone


class Queue(models.Model):
    """An inbox of cases with its members and SLA; routing rules pick the queue of a new case.

    A new case goes to the first queue (lowest routing_order) whose every set rule matches it;
    a rule left empty matches anything. The default queue takes what no rule claims.
    """

    name = models.CharField(max_length=80, unique=True)
    description = models.TextField(blank=True)
    sla_hours = models.PositiveIntegerField(default=24)
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="queues")
    routing_order = models.PositiveIntegerField(default=100)
    is_default = models.BooleanField(default=False)
    min_similarity_score = models.FloatField(null=True, blank=True)
    outcomes = models.JSONField(default=list, blank=True, help_text="detector outcomes, any of")
    min_amount = models.DecimalField(max_digits=20, decimal_places=2, null=True, blank=True)
    countries = models.JSONField(default=list, blank=True, help_text="ISO alpha-2 codes, any of")
    round_robin = models.BooleanField(default=False, help_text="assign new cases in turn")
    last_assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["routing_order", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["is_default"],
                condition=models.Q(is_default=True),
                name="one_default_queue",
            )
        ]

    def __str__(self) -> str:
        return self.name


class ReasonCode(models.Model):
    """A typed reason for closing a case, from a list leads manage."""

    code = models.SlugField(max_length=64, unique=True)
    label = models.CharField(max_length=160)
    # Empty: fits any resolution; else only that one.
    resolution = models.CharField(max_length=24, blank=True)
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return self.label


class Tag(models.Model):
    name = models.SlugField(max_length=64, unique=True)

    def __str__(self) -> str:
        return self.name


class Note(models.Model):
    """An analyst's note on a case (Markdown source, rendered sanitised)."""

    case = models.ForeignKey("cases.Case", on_delete=models.PROTECT, related_name="notes")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    author_name = models.CharField(max_length=150)
    body = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"note by {self.author_name} on case {self.case_id}"


class Attachment(models.Model):
    """A file on a case, stored in S3 under the case's prefix; checked for size and type."""

    case = models.ForeignKey("cases.Case", on_delete=models.PROTECT, related_name="attachments")
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    uploaded_by_name = models.CharField(max_length=150)
    filename = models.CharField(max_length=255)
    content_type = models.CharField(max_length=100)
    size_bytes = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64)
    s3_bucket = models.CharField(max_length=63)
    s3_key = models.CharField(max_length=1024)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return self.filename
