"""Label versions and the guards against poisoning the retraining set.

Every label write goes through label_version_record: it appends a LabelVersion (never edits
one), writes its outbox row in the same transaction, and keeps Transaction.label equal to the
newest effective version. Two guards can hold a new version for a lead instead of letting it
out: flipping a label that was already exported (four-eyes), and an analyst whose labels that
contradict both the detector's outcome and the neighbour verdict are many and a share well
above the team's (not merely fast: honest labels of the detector's misses are what retraining
needs). A lead can quarantine
a batch, or one analyst's labels in a time range; nothing quarantined is exported, and an
exported version that gets quarantined is retracted from the training set by a later batch.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from cases import dispatch
from cases.audit.trail import audit_record, refusals_audited
from cases.clock import database_now
from cases.errors import ActionNotPermitted, InvalidInput, NotFound, TransitionNotAllowed
from cases.labels.selectors.guard import contradiction_burst
from cases.locking import conflicts_retried, lock_label_versions
from cases.models import (
    EFFECTIVE_LABEL_STATUSES,
    AuditAction,
    Case,
    HoldReason,
    Label,
    LabelExportAction,
    LabelExportBatch,
    LabelOutbox,
    LabelSource,
    LabelStatus,
    LabelVersion,
    NeighbourRefreshRequest,
    Outcome,
    Transaction,
)
from cases.policies import require_permission

logger = logging.getLogger(__name__)

# The detector's own call, from its recommendation; "investigate" (or none) calls nothing.
DETECTOR_CALL = {Outcome.BLOCK: Label.FRAUD, Outcome.APPROVE: Label.LEGITIMATE}
# A new label equal to the newest version in one of these states changes nothing.
STANDING_STATUSES = (LabelStatus.PENDING, LabelStatus.EXPORTED, LabelStatus.HELD)


def analyst_pseudonym(user) -> str:
    """A stable id for the analyst in exported rows: an HMAC of the pk, not the username."""
    if user is None or not user.pk:
        return ""
    key = settings.FRAUDCASE_ANALYST_PSEUDONYM_KEY.encode()
    digest = hmac.new(key, f"user:{user.pk}".encode(), hashlib.sha256).hexdigest()
    return f"an_{digest[:24]}"


def queue_label_export() -> None:
    """Ask a worker to export after this transaction commits, unless an export task is already
    pending (it exports this label too): labelling 500 transactions queues one task, not 500.
    The beat sweep is the backstop for a lost message."""
    # robust: a broker outage must not fail the analyst's save; the sweep picks it up.
    dispatch.queue_once_on_commit(
        dispatch.EXPORT_LABELS, pending_seconds=settings.FRAUDCASE_LABEL_EXPORT_PENDING_SECONDS
    )


def _standing_neighbour_call(case: Case) -> tuple[float | None, str]:
    """The case's neighbour verdict as it stands (its fraud share and call; "" when there is
    none): what the case page showed the analyst when they decided.

    It is the verdict the background refresh stored (Case.neighbour_summary: the VERDICT_K
    labelled transactions of other cases nearest to the case's centroid, recomputed after
    ingest and after labels near it), not a search made now: a nearest-neighbour search per
    transaction inside the label's transaction held the case's locks for seconds (a close of
    many transactions ran one per transaction, up to 120 s under load: issue 14). A case
    whose verdict was never computed records none (null), and the guard sees no contradiction.
    """
    share = (case.neighbour_summary or {}).get("fraud_share")
    if share is None:
        return None, ""
    return share, Label.FRAUD if share >= 0.5 else Label.LEGITIMATE


def _latest_exported_label(tx: Transaction) -> str:
    latest = (
        LabelVersion.objects.filter(transaction=tx, first_exported_at__isnull=False)
        .exclude(status=LabelStatus.QUARANTINED)
        .order_by("-version")
        .values_list("label", flat=True)
        .first()
    )
    return latest or ""


def sync_current_label(tx: Transaction) -> None:
    """Transaction.label follows the newest effective version ("" when there is none)."""
    current = (
        LabelVersion.objects.filter(transaction=tx, status__in=EFFECTIVE_LABEL_STATUSES)
        .order_by("-version")
        .first()
    )
    label, by_id, at = (
        (current.label, current.analyst_id, current.decided_at) if current else ("", None, None)
    )
    if (tx.label, tx.labelled_by_id, tx.labelled_at) != (label, by_id, at):
        tx.label, tx.labelled_by_id, tx.labelled_at = label, by_id, at
        tx.save(update_fields=["label", "labelled_by", "labelled_at"])
        # The case shows its transactions' labels: its updated_at moves, so sync sees the change
        # (cases.workflow.services.common.touch_case, not imported: workflow imports labels).
        Case.objects.filter(pk=tx.case_id).update(updated_at=timezone.now())
        if Transaction.objects.filter(pk=tx.pk, embedding__isnull=False).exists():
            # Open cases near it have another (or a changed) labelled neighbour: a worker
            # refreshes their verdicts. One request per transaction, drained all at once.
            NeighbourRefreshRequest.objects.bulk_create(
                [NeighbourRefreshRequest(transaction_id=tx.pk)], ignore_conflicts=True
            )
            # One task drains every request: a close labelling 50 transactions sends one.
            dispatch.queue_once_on_commit(
                dispatch.REFRESH_NEIGHBOURS_OF_LABELS,
                pending_seconds=settings.FRAUDCASE_NEIGHBOUR_REFRESH_PENDING_SECONDS,
            )


def latest_version(tx: Transaction) -> LabelVersion | None:
    return LabelVersion.objects.filter(transaction=tx).order_by("-version").first()


def label_version_record(
    *,
    actor,
    tx: Transaction,
    label: str,
    reason_codes: list[str],
    why: str,
    when=None,
    source: str = LabelSource.ANALYST,
    import_note: str = "",
) -> LabelVersion:
    """Append a label version for a locked transaction, with its outbox row (caller's atomic).

    The caller has checked the actor may label this transaction. Returns the version; it is
    HELD (not exported, not the current label) when a guard stops it, and the audit trail
    says which guard. The current label (Transaction.label) follows the newest effective one.
    """
    if label not in Label.values:
        raise InvalidInput(f"label must be one of {', '.join(Label.values)}")
    now = when or database_now()
    previous = latest_version(tx)
    neighbour_share, neighbour_says = _standing_neighbour_call(tx.case)
    detector_says = DETECTOR_CALL.get(tx.outcome, "")
    contradicts = bool(
        detector_says and neighbour_says and label != detector_says and label != neighbour_says
    )
    version = LabelVersion(
        transaction=tx, version=(previous.version + 1) if previous else 1, label=label,
        reason_codes=sorted(reason_codes), analyst=actor, analyst_pseudonym=analyst_pseudonym(actor),
        case_id=tx.case_id, decided_at=now, why=why, model_version=tx.model_version,
        similarity_score=tx.similarity_score, detector_outcome=tx.outcome,
        neighbour_fraud_share=neighbour_share, contradicts_model=contradicts,
        supersedes=previous, status=LabelStatus.PENDING, source=source, import_note=import_note,
    )  # fmt: skip
    exported_label = _latest_exported_label(tx)
    if exported_label and exported_label != label:
        version.status, version.hold_reason = LabelStatus.HELD, HoldReason.FLIP_OF_EXPORTED
    version.full_clean(exclude=["transaction", "case", "supersedes", "analyst"])
    version.save(force_insert=True)
    # Now counted itself: the label that crosses the threshold is the first one held. Imported
    # truth (a lead's, with a justification) is not an analyst's review: the guard skips it.
    judged = version.status != LabelStatus.HELD and source != LabelSource.IMPORT
    burst = contradiction_burst(actor, now) if judged else None
    if burst is not None:
        version.status, version.hold_reason = LabelStatus.HELD, HoldReason.CONTRADICTION_BURST
        version.save(update_fields=["status", "hold_reason"])
    if previous is not None and previous.status == LabelStatus.HELD:
        previous.status = LabelStatus.SUPERSEDED
        previous.save(update_fields=["status"])
    LabelOutbox.objects.create(label_version=version, action=LabelExportAction.EXPORT)
    before = {"label": tx.label}
    sync_current_label(tx)
    audit_record(
        actor=actor, action=AuditAction.TRANSACTION_LABELLED, obj=tx, object_repr=tx.transaction_id,
        before=before, after={"label": label, "why": why, "case_id": tx.case_id,
                              "version": version.version, "status": version.status},
    )  # fmt: skip
    if version.status == LabelStatus.HELD:
        audit_record(
            actor=actor, action=AuditAction.LABEL_HELD, obj=version, object_repr=str(version),
            after={"transaction_id": tx.transaction_id, "version": version.version,
                   "label": label, "hold_reason": version.hold_reason,
                   "exported_label": exported_label,
                   "guard": burst.as_dict() if burst is not None else None},
        )  # fmt: skip
    else:
        queue_label_export()
    return version


# --- lead review of held labels -----------------------------------------------------------


def _lock_version(version_id) -> LabelVersion:
    """The version, its transaction and that one's case locked (the house order, cases.locking)."""
    locked = lock_label_versions(LabelVersion.objects.filter(pk=version_id))
    if not locked:
        raise NotFound(f"no label version {version_id!r}")
    return locked[0]


@conflicts_retried
def label_review(*, actor, version_id: int, approve: bool, note: str = "") -> LabelVersion:
    """A lead approves (it becomes the current label and is exported) or rejects a held label.

    Four-eyes: the reviewer must hold release_labels and must not be the one who labelled.
    Approving a version superseded in the meantime is refused: review the newest one.
    """
    with refusals_audited(
        actor=actor,
        attempted="label_review",
        object_type="cases.labelversion",
        object_id=version_id,
    ):
        require_permission(actor, "release_labels", attempted="review held labels")
        with transaction.atomic():
            version = _lock_version(version_id)
            if version.status != LabelStatus.HELD:
                raise TransitionNotAllowed(f"{version} is not held: nothing to review")
            if version.analyst_id == actor.pk:
                raise ActionNotPermitted(
                    "four-eyes: a held label needs a lead other than the analyst who gave it"
                )
            version.status = LabelStatus.PENDING if approve else LabelStatus.REJECTED
            version.reviewed_by, version.reviewed_at = actor, database_now()
            version.review_note = (note or "").strip()
            version.save(update_fields=["status", "reviewed_by", "reviewed_at", "review_note"])
            before = {"label": version.transaction.label}
            sync_current_label(version.transaction)
            audit_record(
                actor=actor,
                action=AuditAction.LABEL_RELEASED if approve else AuditAction.LABEL_REJECTED,
                obj=version, object_repr=str(version),
                before={"status": LabelStatus.HELD, "current_label": before["label"]},
                after={"status": version.status, "transaction_id": version.transaction.transaction_id,
                       "version": version.version, "label": version.label,
                       "hold_reason": version.hold_reason, "labelled_by": version.analyst_pseudonym,
                       "note": version.review_note, "current_label": version.transaction.label},
            )  # fmt: skip
            if approve:
                queue_label_export()
            return version


# --- quarantine ---------------------------------------------------------------------------


def _quarantine(*, actor, versions: list[LabelVersion], scope: dict, reason: str) -> int:
    """Quarantine these locked versions; retract those already exported. Returns how many."""
    changed = []
    for version in versions:
        if version.status in (
            LabelStatus.QUARANTINED,
            LabelStatus.REJECTED,
            LabelStatus.SUPERSEDED,
        ):
            continue
        was_exported = version.first_exported_at is not None
        previous_status = version.status
        version.status = LabelStatus.QUARANTINED
        version.save(update_fields=["status"])
        if was_exported:
            LabelOutbox.objects.create(label_version=version, action=LabelExportAction.RETRACT)
        sync_current_label(version.transaction)
        changed.append((version, previous_status, was_exported))
    for version, previous_status, was_exported in changed:
        audit_record(
            actor=actor, action=AuditAction.LABEL_QUARANTINED, obj=version, object_repr=str(version),
            before={"status": previous_status},
            after={"status": LabelStatus.QUARANTINED, "transaction_id": version.transaction.transaction_id,
                   "version": version.version, "label": version.label, "retracted": was_exported,
                   "reason": reason, **scope},
        )  # fmt: skip
    if any(was_exported for _, _, was_exported in changed):
        queue_label_export()
    return len(changed)


def _require_reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput("a quarantine or its release needs a reason")
    return reason


def _analyst_versions(analyst_id: int, start: datetime, end: datetime):
    if start >= end:
        raise InvalidInput("the time range must end after it starts")
    return LabelVersion.objects.filter(
        analyst_id=analyst_id, decided_at__gte=start, decided_at__lt=end
    )


@conflicts_retried
def labels_quarantine_analyst(
    *, actor, analyst_id: int, start: datetime, end: datetime, reason: str
) -> int:
    """Quarantine one analyst's label versions decided in [start, end); returns how many."""
    with refusals_audited(actor=actor, attempted="labels_quarantine_analyst"):
        require_permission(actor, "release_labels", attempted="quarantine labels")
        reason = _require_reason(reason)
        with transaction.atomic():
            versions = lock_label_versions(_analyst_versions(analyst_id, start, end))
            scope = {"analyst_id": analyst_id, "start": start, "end": end}
            return _quarantine(actor=actor, versions=versions, scope=scope, reason=reason)


@conflicts_retried
def label_batch_quarantine(*, actor, batch_id: str, reason: str) -> int:
    """Quarantine every label version of an export batch (retracting what it exported)."""
    with refusals_audited(actor=actor, attempted="label_batch_quarantine", object_repr=batch_id):
        require_permission(actor, "release_labels", attempted="quarantine labels")
        reason = _require_reason(reason)
        with transaction.atomic():
            batch = LabelExportBatch.objects.select_for_update().filter(batch_id=batch_id).first()
            if batch is None:
                raise NotFound(f"no label batch {batch_id!r}")
            versions = lock_label_versions(
                LabelVersion.objects.filter(
                    pk__in=LabelOutbox.objects.filter(
                        batch=batch, action=LabelExportAction.EXPORT
                    ).values("label_version_id")
                )
            )
            batch.quarantined_at = database_now()
            batch.save(update_fields=["quarantined_at"])
            scope = {"batch_id": batch.batch_id}
            return _quarantine(actor=actor, versions=versions, scope=scope, reason=reason)


@conflicts_retried
def labels_release_quarantine(
    *,
    actor,
    reason: str,
    analyst_id: int | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    batch_id: str | None = None,
) -> int:
    """Release quarantined versions (one analyst's in a range, or a batch's): they go out again.

    A released version becomes pending: exported (again) by the next batch, and the current
    label if it is the newest effective one; one that was held and never reviewed is held
    again. Audited per version.
    """
    with refusals_audited(actor=actor, attempted="labels_release_quarantine"):
        require_permission(actor, "release_labels", attempted="release quarantined labels")
        reason = _require_reason(reason)
        with transaction.atomic():
            if batch_id:
                batch = (
                    LabelExportBatch.objects.select_for_update().filter(batch_id=batch_id).first()
                )
                if batch is None:
                    raise NotFound(f"no label batch {batch_id!r}")
                versions = LabelVersion.objects.filter(
                    pk__in=LabelOutbox.objects.filter(batch=batch).values("label_version_id")
                )
                scope = {"batch_id": batch_id}
                batch.quarantined_at = None
                batch.save(update_fields=["quarantined_at"])
            elif analyst_id is not None and start is not None and end is not None:
                versions = _analyst_versions(analyst_id, start, end)
                scope = {"analyst_id": analyst_id, "start": start, "end": end}
            else:
                raise InvalidInput("name a batch, or an analyst and a time range")
            released = 0
            for version in lock_label_versions(versions.filter(status=LabelStatus.QUARANTINED)):
                # Back to where it was: a label held and never reviewed is held again, so a
                # quarantine and release cannot step around four-eyes or the burst guard.
                unreviewed_hold = bool(version.hold_reason) and version.reviewed_at is None
                version.status = LabelStatus.HELD if unreviewed_hold else LabelStatus.PENDING
                version.save(update_fields=["status"])
                waiting = version.outbox_entries.filter(
                    batch__isnull=True, action=LabelExportAction.EXPORT
                )
                # Exported before: a new row sends it again (an unexported one still has its own).
                if not waiting.exists():
                    LabelOutbox.objects.create(
                        label_version=version, action=LabelExportAction.EXPORT
                    )
                sync_current_label(version.transaction)
                audit_record(
                    actor=actor, action=AuditAction.LABEL_QUARANTINE_RELEASED, obj=version,
                    object_repr=str(version), before={"status": LabelStatus.QUARANTINED},
                    after={"status": version.status, "transaction_id": version.transaction.transaction_id,
                           "version": version.version, "label": version.label, "reason": reason, **scope},
                )  # fmt: skip
                released += 1
            if released:
                queue_label_export()
            return released
