"""What analysts add to a case: notes and tags (attachments: cases.workflow.services.attachments)."""

from __future__ import annotations

import re

from django.db import transaction

from cases.audit.trail import audit_record, refusals_audited
from cases.errors import InvalidInput
from cases.locking import conflicts_retried
from cases.models import AuditAction, Case, Note, Tag, parse_case_reference
from cases.watchers.services import note_notify
from cases.workflow.services.common import (
    lock_case,
    lock_cases_checked,
    require_can_work,
    save_case,
    touch_case,
)

MAX_NOTE_LENGTH = 20_000
TAG_PATTERN = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")


@conflicts_retried
def case_add_note(*, actor, case_id, body: str, expected_version: int | None = None) -> Note:
    """Add a note (Markdown source) with its author and time; notes never conflict.

    @username notifies that person in the app when they may read the case, and followers
    hear of the note (cases.watchers.services.note_notify); the note's .notices says who.
    The NOTE_ADDED event lists who was mentioned and notified, when anyone was."""
    with refusals_audited(
        actor=actor, attempted="case_add_note", object_type="cases.case", object_id=case_id
    ):
        with transaction.atomic():
            case = lock_case(case_id, expected_version)
            require_can_work(actor, case, attempted="add notes")
            body = (body or "").strip()
            if not body:
                raise InvalidInput("a note cannot be empty")
            if len(body) > MAX_NOTE_LENGTH:
                raise InvalidInput(f"a note is at most {MAX_NOTE_LENGTH} characters")
            note = Note(case=case, author=actor, author_name=actor.get_username(), body=body)
            note.full_clean()
            note.save()
            note.notices = note_notify(actor=actor, case=case, note=note)
            touch_case(case)
            after = {"note_id": note.pk, "body": body}
            if note.notices.mentioned:
                after["mentioned"] = note.notices.mentioned
            if note.notices.followers:
                after["followers_notified"] = note.notices.followers
            audit_record(actor=actor, action=AuditAction.NOTE_ADDED, obj=case, after=after)
            return note


@conflicts_retried
def case_set_tags(
    *,
    actor,
    case_id,
    add: list[str] = (),
    remove: list[str] = (),
    expected_version: int | None = None,
) -> Case:
    """Add and remove tags (lower-case words, digits, - and _); unknown tags are created."""
    with refusals_audited(
        actor=actor, attempted="case_set_tags", object_type="cases.case", object_id=case_id
    ):
        with transaction.atomic():
            case = lock_case(case_id, expected_version)
            require_can_work(actor, case, attempted="tag the case")
            add = [name.strip().lower() for name in add if name.strip()]
            remove = [name.strip().lower() for name in remove if name.strip()]
            bad = [name for name in add if not TAG_PATTERN.fullmatch(name)]
            if bad:
                raise InvalidInput(
                    f"tag(s) {', '.join(map(repr, bad))} must be lower-case letters, digits, - or _ "
                    "(at most 64 characters)"
                )
            before = sorted(case.tags.values_list("name", flat=True))
            for name in add:
                case.tags.add(Tag.objects.get_or_create(name=name)[0])
            case.tags.remove(*Tag.objects.filter(name__in=remove))
            after = sorted(case.tags.values_list("name", flat=True))
            if after != before:
                save_case(case, [])  # tags are the case's own: older copies are stale
                audit_record(
                    actor=actor, action=AuditAction.CASE_TAGGED, obj=case,
                    before={"tags": before}, after={"tags": after},
                )  # fmt: skip
            return case


@conflicts_retried
def cases_bulk_tag(*, actor, case_ids: list, add: list[str]) -> list[Case]:
    """Add tags to each case: all of them or none (the cases locked first, in the house order)."""
    with transaction.atomic():
        ids = sorted({parse_case_reference(case_id) for case_id in case_ids})
        lock_cases_checked([(case_id, None) for case_id in ids])
        return [case_set_tags(actor=actor, case_id=case_id, add=add) for case_id in ids]
