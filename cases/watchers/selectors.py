"""Reads of cases.watchers: who follows a case, a user's notifications and unread count."""

from __future__ import annotations

from cases.models import Case, CaseWatcher, Notification
from cases.policies import visible_cases

NOTIFICATIONS_SHOWN = 100


def is_following(user, case: Case) -> bool:
    return CaseWatcher.objects.filter(case=case, user_id=user.pk).exists()


def case_followers(case: Case) -> list[str]:
    """Usernames following the case, by name (one query)."""
    return list(
        CaseWatcher.objects.filter(case=case)
        .order_by("user__username")
        .values_list("user__username", flat=True)
    )


def _readable(user):
    """The user's notifications about cases they may still read (visibility can shrink)."""
    return Notification.objects.filter(recipient_id=user.pk, case__in=visible_cases(user))


def unread_notification_count(user) -> int:
    return _readable(user).filter(read_at__isnull=True).count()


def notifications_for(user, *, limit: int = NOTIFICATIONS_SHOWN) -> list[Notification]:
    """The user's latest notifications, newest first, with their case (one query)."""
    return list(_readable(user).select_related("case").order_by("-created_at", "-id")[:limit])
