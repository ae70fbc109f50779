"""What the queue page's forms offer: tags, queues, the user's saved views, whom a lead may
assign and which reason codes fit a false-positive close. A fixed number of queries each."""

from __future__ import annotations

from django.contrib.auth import get_user_model

from cases.models import Queue, ReasonCode, Resolution, SavedQueueView, Tag
from cases.policies import sees_every_case


def queue_filter_choices(*, user, queues: list[tuple[int, str]] | None = None) -> dict:
    """The tags and queues the filters offer (every queue for those who see every case, else
    the user's own), and the user's saved views: three queries, two when the caller already
    holds the queues as (id, name) in routing order (the queue tabs)."""
    if queues is None:
        found = Queue.objects.order_by("routing_order", "name")
        if not sees_every_case(user):
            found = found.filter(members=user)
        queues = list(found.values_list("pk", "name"))
    return {
        "tags": list(Tag.objects.order_by("name").values_list("name", flat=True)),
        "queues": queues,
        "saved_views": saved_views(user=user),
    }


def saved_views(*, user) -> list[SavedQueueView]:
    """The user's own saved views, by name (one query)."""
    return list(SavedQueueView.objects.filter(user=user).order_by("name", "id"))


def queue_assignable_users():
    """Active users whose role works cases, by username: whom a lead may assign (one query)."""
    return (
        get_user_model()
        .objects.filter(
            is_active=True,
            groups__permissions__codename="work_case",
            groups__permissions__content_type__app_label="cases",
        )
        .distinct()
        .order_by("username")
        .only("id", "username")
    )


def false_positive_reason_codes():
    """Active reason codes that fit a false-positive closing (one query)."""
    return ReasonCode.objects.filter(
        active=True, resolution__in=[Resolution.FALSE_POSITIVE, ""]
    ).order_by("label")
