"""Helpers shared by the case services: locking (in the house order, cases.locking) with a
version check, refusing who may not work a case (the rules themselves are in cases.policies)."""

from __future__ import annotations

from django.db.models import F
from django.utils import timezone

from cases.errors import ActionNotPermitted, CaseNotVisible, NotFound, StaleVersion
from cases.locking import lock_cases
from cases.models import REFERENCE_PREFIX, Case, parse_case_reference
from cases.policies import can_view_case, can_work_case


def lock_case(case_id: int | str, expected_version: int | None = None) -> Case:
    """The case, locked for this transaction; refused when unknown or changed since expected."""
    return lock_cases_checked([(case_id, expected_version)])[0]


def lock_cases_checked(expected: list[tuple[int | str, int | None]]) -> list[Case]:
    """Cases by (id or reference, expected version or None), locked in the house order (by
    numeric id, cases.locking) and each checked as lock_case does; returned in the order asked."""
    pks = [parse_case_reference(case_id) for case_id, _ in expected]
    locked = lock_cases(pks)
    for pk in pks:
        if pk not in locked:
            raise NotFound(f"no case {REFERENCE_PREFIX}{pk:06d}")
    for pk, (_, version) in zip(pks, expected, strict=True):
        check_version(locked[pk], version)
    return [locked[pk] for pk in pks]


def check_version(case: Case, expected_version: int | None) -> None:
    """Refuse a change made against an older copy of the case."""
    if expected_version is not None and case.version != expected_version:
        raise StaleVersion(
            f"{case.reference} was changed by someone else (version {case.version}, you had "
            f"{expected_version}); reload it and try again"
        )


def save_case(case: Case, fields: list[str]) -> None:
    """Save the changed fields and bump the version (every change makes older copies stale)."""
    case.version = F("version") + 1
    case.full_clean(exclude=["version", "reason_codes", "tags"], validate_constraints=False)
    case.save(update_fields=[*fields, "version", "updated_at"])
    case.refresh_from_db(fields=["version"])


def touch_case(case: Case) -> None:
    """Mark a change to what the case shows without changing the case's own fields (a note, an
    attachment, a transaction's decision): updated_at moves, so the API's ETag and updated_since
    see it; the version does not, so a form open on the case page is not made stale by it."""
    case.updated_at = timezone.now()
    Case.objects.filter(pk=case.pk).update(updated_at=case.updated_at)


def require_can_work(actor, case: Case, *, attempted: str) -> None:
    """Refuse unless the actor may work the case; a case they may not even see is NotFound."""
    if can_work_case(actor, case):
        return
    if not can_view_case(actor, case):
        raise CaseNotVisible(f"no case {case.reference}")
    if actor is not None and actor.has_perm("cases.work_case"):
        where = f"queue {case.queue.name!r}" if case.queue_id else "no queue"
        raise ActionNotPermitted(
            f"{actor.get_username()} may not {attempted} on {case.reference}: it is in {where}, "
            "which is not one of your queues"
        )
    name = actor.get_username() if actor is not None else "anonymous"
    raise ActionNotPermitted(f"{name} may not {attempted}: the role does not work cases")


def case_snapshot(case: Case, fields: list[str]) -> dict:
    return {field: getattr(case, field) for field in fields}
