"""Merging two cases of related accounts: the work moves, the merged case stays as a pointer."""

from __future__ import annotations

from django.db import transaction

from cases.audit.trail import audit_record, refusals_audited
from cases.errors import InvalidInput, TransitionNotAllowed
from cases.ingest.case_opening import cases_refresh_priority
from cases.locking import conflicts_retried
from cases.models import (
    FINISHED_CASE_STATUSES,
    AuditAction,
    Case,
    CaseStatus,
    Transaction,
    WebhookEventType,
)
from cases.policies import require_permission
from cases.webhooks.services import webhook_event_record
from cases.workflow.services.common import lock_cases_checked, save_case
from cases.workflow.services.routing import TRIGGER_MERGE, cases_reroute


@conflicts_retried
def case_merge(
    *,
    actor,
    source_case_id,
    target_case_id,
    justification: str,
    source_version: int | None = None,
    target_version: int | None = None,
) -> Case:
    """Fold the source case into the target (a lead's call, with a justification).

    Transactions, notes, attachments and tags move to the target; the source becomes
    'merged' with merged_into pointing at the target, and its history stays readable there.
    """
    with refusals_audited(
        actor=actor, attempted="case_merge", object_type="cases.case", object_id=source_case_id
    ):
        require_permission(actor, "merge_case", attempted="merge cases")
        with transaction.atomic():
            # Both cases, then the source's transactions, in the house order (cases.locking).
            source, target = lock_cases_checked(
                [(source_case_id, source_version), (target_case_id, target_version)]
            )
            if source.pk == target.pk:
                raise InvalidInput("a case cannot be merged into itself")
            for case in (source, target):
                if case.status in FINISHED_CASE_STATUSES:
                    raise TransitionNotAllowed(
                        f"{case.reference} is {case.status}: only open cases merge"
                    )
            justification = (justification or "").strip()
            if not justification:
                raise InvalidInput("merging needs a justification")
            moving = Transaction.objects.filter(case=source).select_for_update(no_key=True)
            list(moving.order_by("id").values_list("id", flat=True))
            moved = {
                "transactions": source.transactions.update(case=target),
                "notes": source.notes.update(case=target),
                "attachments": source.attachments.update(case=target),
            }
            target.tags.add(*source.tags.all())
            source_status = source.status
            source.status, source.merged_into = CaseStatus.MERGED, target
            save_case(source, ["status", "merged_into"])
            save_case(target, [])
            cases_refresh_priority(case_ids=[source.pk, target.pk])
            details = {"justification": justification, "moved": moved}
            audit_record(
                actor=actor, action=AuditAction.CASE_MERGED, obj=source,
                before={"status": source_status}, after={**details, "merged_into": target.reference},
            )  # fmt: skip
            audit_record(
                actor=actor, action=AuditAction.CASE_MERGED, obj=target,
                after={**details, "merged_from": source.reference},
            )  # fmt: skip
            # The target grew: an unassigned one follows its routing rules.
            cases_reroute(actor=actor, case_ids=[target.pk], trigger=TRIGGER_MERGE)
            webhook_event_record(type=WebhookEventType.CASE_MERGED, case=source, payload={"merged_into_case_id": target.pk, "merged_into": target.reference, "moved": moved})  # fmt: skip
            target.refresh_from_db()
            return target
