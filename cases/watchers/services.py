"""Following cases and telling people in the app: @mentions in notes, notes on cases they
follow, and reminders when a customer's reply is overdue.

Nobody hears about a case they may not read (cases.policies.can_view_case): a mention of
someone outside the case's reach notifies no one, and the note says so to its author only as
"not notified".
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Q

from cases.audit.trail import audit_record, refusals_audited
from cases.clock import database_now
from cases.errors import CaseNotVisible, NotFound
from cases.locking import lock_cases
from cases.models import (
    AuditAction,
    Case,
    CaseStatus,
    CaseWatcher,
    Note,
    Notification,
    NotificationKind,
    parse_case_reference,
)
from cases.policies import can_view_case

# @name: Django's username characters; a trailing dot or dash is the sentence's, not the name's.
MENTION = re.compile(r"(?<![\w@.+-])@([\w.@+-]{1,150})")
MAX_MENTIONS = 20
# Markdown code (fenced blocks, inline spans) quotes text: an @ in it mentions nobody.
MARKDOWN_CODE = re.compile(r"```.*?```|`[^`\n]*`", re.DOTALL)


@dataclass
class NoteNotices:
    """Who a note reached: mentioned (by username) and followers told of it; mentions that
    reached nobody (no such active user, or one who may not read the case)."""

    mentioned: list[str] = field(default_factory=list)
    not_notified: list[str] = field(default_factory=list)
    followers: list[str] = field(default_factory=list)


def mentioned_usernames(body: str) -> list[str]:
    """The @usernames in a note's text (outside Markdown code), in order of first mention, at
    most MAX_MENTIONS."""
    text = MARKDOWN_CODE.sub(" ", body or "")
    names = [match.rstrip(".-") for match in MENTION.findall(text)]
    return list(dict.fromkeys(name for name in names if name))[:MAX_MENTIONS]


def note_notify(*, actor, case: Case, note: Note) -> NoteNotices:
    """Inside case_add_note's transaction (it records what this did in its NOTE_ADDED event):
    a MENTION notification for each @username who may read the case, a NOTE notification for
    each other follower who may; never the author."""
    notices = NoteNotices()
    wanted = mentioned_usernames(note.body)
    users = {
        user.get_username(): user
        for user in get_user_model().objects.filter(username__in=wanted, is_active=True)
    }
    notifications = []
    excerpt = " ".join(note.body.split())[:160]
    for name in wanted:
        user = users.get(name)
        if user is None or not can_view_case(user, case):
            notices.not_notified.append(name)
            continue
        if user.pk == actor.pk:
            continue
        notices.mentioned.append(name)
        notifications.append(
            Notification(
                recipient=user, kind=NotificationKind.MENTION, case=case, note=note,
                actor_name=actor.get_username(),
                message=f"{actor.get_username()} mentioned you on {case.reference}: {excerpt}",
            )
        )  # fmt: skip
    followers = (
        CaseWatcher.objects.filter(case=case, user__is_active=True)
        .exclude(user_id=actor.pk)
        .exclude(user__username__in=notices.mentioned)
        .select_related("user")
        .order_by("user__username")
    )
    for watcher in followers:
        if not can_view_case(watcher.user, case):
            continue
        notices.followers.append(watcher.user.get_username())
        notifications.append(
            Notification(
                recipient=watcher.user, kind=NotificationKind.NOTE, case=case, note=note,
                actor_name=actor.get_username(),
                message=f"{actor.get_username()} added a note to {case.reference}: {excerpt}",
            )
        )  # fmt: skip
    Notification.objects.bulk_create(notifications)
    return notices


def _visible_case(actor, case_id) -> Case:
    case = Case.objects.filter(pk=parse_case_reference(case_id)).first()
    if case is None:
        raise NotFound(f"no case {case_id}")
    if not can_view_case(actor, case):
        raise CaseNotVisible(f"no case {case.reference}")
    return case


def case_follow(*, actor, case_id) -> CaseWatcher:
    """Follow a case the actor may read (idempotent: following twice records one event)."""
    with refusals_audited(
        actor=actor, attempted="case_follow", object_type="cases.case", object_id=case_id
    ):
        with transaction.atomic():
            case = _visible_case(actor, case_id)
            watcher, created = CaseWatcher.objects.get_or_create(case=case, user=actor)
            if created:
                audit_record(
                    actor=actor, action=AuditAction.CASE_FOLLOWED, obj=case,
                    after={"follower": actor.get_username()},
                )  # fmt: skip
            return watcher


def case_unfollow(*, actor, case_id) -> bool:
    """Stop following a case; True when the actor was following it (one event), else False
    and nothing recorded. A case the actor may not read is NotFound."""
    with refusals_audited(
        actor=actor, attempted="case_unfollow", object_type="cases.case", object_id=case_id
    ):
        with transaction.atomic():
            case = _visible_case(actor, case_id)
            deleted, _ = CaseWatcher.objects.filter(case=case, user=actor).delete()
            if deleted:
                audit_record(
                    actor=actor, action=AuditAction.CASE_UNFOLLOWED, obj=case,
                    before={"follower": actor.get_username()},
                )  # fmt: skip
            return bool(deleted)


def notifications_mark_read(*, actor, notification_ids: list[int] | None = None) -> int:
    """Mark the actor's own notifications read (these ids, or every unread one when None);
    others' ids are ignored. Returns how many changed."""
    unread = Notification.objects.filter(recipient=actor, read_at__isnull=True)
    if notification_ids is not None:
        unread = unread.filter(pk__in=notification_ids)
    return unread.update(read_at=database_now())


def case_reminders_send(*, actor) -> int:
    """Remind the assignee and followers of every case waiting on the customer past its reply
    date (beat). Idempotent: one reminder per person per case and reply date (dedupe_key),
    taken under the case's lock, with one CASE_REMINDER_SENT event per case that got new
    ones. Returns how many notifications were written."""
    now = database_now()
    due = list(
        Case.objects.filter(status=CaseStatus.WAITING_ON_CUSTOMER, waiting_until__lt=now)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    written = 0
    for case_id in due:
        with transaction.atomic():
            case = lock_cases([case_id]).get(case_id)
            if case is None or case.status != CaseStatus.WAITING_ON_CUSTOMER:
                continue
            if case.waiting_until is None or case.waiting_until >= now:
                continue
            written += _remind(actor, case)
    return written


def _remind(actor, case: Case) -> int:
    recipients = (
        get_user_model()
        .objects.filter(Q(pk=case.assignee_id) | Q(watched_cases__case=case), is_active=True)
        .distinct()
        .order_by("username")
    )
    stamp = case.waiting_until.strftime("%Y%m%dT%H%M%S")
    pending = {
        f"reminder:{case.pk}:{stamp}:{user.pk}": user
        for user in recipients
        if can_view_case(user, case)
    }
    done = set(
        Notification.objects.filter(dedupe_key__in=pending).values_list("dedupe_key", flat=True)
    )
    new = [(key, user) for key, user in pending.items() if key not in done]
    if not new:
        return 0
    when = case.waiting_until.strftime("%Y-%m-%d %H:%M UTC")
    Notification.objects.bulk_create(
        [
            Notification(
                recipient=user, kind=NotificationKind.REMINDER, case=case, dedupe_key=key,
                actor_name=actor.get_username(),
                message=f"{case.reference} is waiting on the customer, whose reply was due {when}",
            )
            for key, user in new
        ]
    )  # fmt: skip
    audit_record(
        actor=actor, action=AuditAction.CASE_REMINDER_SENT, obj=case,
        after={"waiting_until": case.waiting_until, "recipients": [user.get_username() for _, user in new]},
    )  # fmt: skip
    return len(new)
