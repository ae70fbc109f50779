"""Historical truth through its own door: a lead imports labels (chargebacks, confirmed fraud
reports) from a file, with a justification; versioned, audited, exported as `source: import`."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction

from cases.audit.trail import audit_record, refusals_audited
from cases.clock import database_now
from cases.errors import InvalidInput
from cases.labels.services.versions import (
    STANDING_STATUSES,
    label_version_record,
    latest_version,
)
from cases.locking import conflicts_retried, lock_transactions_with_cases
from cases.models import AuditAction, Label, LabelSource, LabelStatus, ReasonCode, Transaction
from cases.policies import require_permission

REQUIRED_COLUMNS = ("transaction_id", "label")
OPTIONAL_COLUMNS = ("reason_codes", "decided_at")


@dataclass(frozen=True)
class ImportedLabel:
    transaction_id: str
    label: str
    reason_codes: tuple[str, ...] = ()
    decided_at: datetime | None = None


@dataclass(frozen=True)
class LabelsImported:
    imported: int
    unchanged: int
    held: int


def labels_import_parse(text: str) -> list[ImportedLabel]:
    """Rows of a labels file: CSV with transaction_id,label and optional reason_codes (codes
    separated by ";") and decided_at (ISO 8601 with offset). Pure; every bad line refused at once."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    header = {name.strip() for name in (reader.fieldnames or [])}
    missing = [name for name in REQUIRED_COLUMNS if name not in header]
    unknown = sorted(header - set(REQUIRED_COLUMNS) - set(OPTIONAL_COLUMNS))
    if missing or unknown:
        raise InvalidInput(
            f"the header needs {', '.join(REQUIRED_COLUMNS)} (optional: "
            f"{', '.join(OPTIONAL_COLUMNS)}); missing: {', '.join(missing) or 'none'}, "
            f"unknown: {', '.join(unknown) or 'none'}"
        )
    rows, problems, seen = [], [], set()
    for line, raw in enumerate(reader, start=2):
        values = {key.strip(): (value or "").strip() for key, value in raw.items() if key}
        tx_id, label = values["transaction_id"], values["label"].lower()
        errors = []
        if not tx_id:
            errors.append("transaction_id is empty")
        elif tx_id in seen:
            errors.append(f"{tx_id} appears twice")
        seen.add(tx_id)
        if label not in Label.values:
            errors.append(f"label {values['label']!r} is not one of {', '.join(Label.values)}")
        decided_at = None
        if values.get("decided_at"):
            try:
                decided_at = datetime.fromisoformat(values["decided_at"])
            except ValueError:
                decided_at = None
            if decided_at is None or decided_at.tzinfo is None:
                errors.append(f"decided_at {values['decided_at']!r} is not ISO 8601 with offset")
        codes = tuple(
            sorted(c.strip() for c in values.get("reason_codes", "").split(";") if c.strip())
        )
        if errors:
            problems.append(f"line {line}: {'; '.join(errors)}")
        else:
            rows.append(ImportedLabel(tx_id, label, codes, decided_at))
    if problems:
        raise InvalidInput("the labels file was not imported: " + " | ".join(problems[:20]))
    if not rows:
        raise InvalidInput("the labels file has no rows")
    return rows


@conflicts_retried
def labels_import(
    *, actor, rows: list[ImportedLabel], justification: str, source_name: str
) -> LabelsImported:
    """Import labels as a lead (release_labels), all or nothing.

    Each differing label becomes a new version (source "import", why "import", the
    justification and file in import_note; the per-transaction TRANSACTION_LABELLED event);
    one the transaction already carries changes nothing. The contradiction guard does not
    judge imports; flipping an exported label is still held for a second lead (four-eyes).
    Unknown transactions or reason codes refuse the whole file. One LABELS_IMPORTED event.
    """
    with refusals_audited(actor=actor, attempted="labels_import", object_repr=source_name[:255]):
        require_permission(actor, "release_labels", attempted="import labels")
        justification = (justification or "").strip()
        if not justification:
            raise InvalidInput("an import needs a justification (where the truth comes from)")
        if not rows:
            raise InvalidInput("no labels to import")
        codes = {code for row in rows for code in row.reason_codes}
        unknown_codes = sorted(
            codes - set(ReasonCode.objects.filter(code__in=codes).values_list("code", flat=True))
        )
        if unknown_codes:
            raise InvalidInput(f"unknown reason code(s): {', '.join(unknown_codes)}")
        with transaction.atomic():
            wanted = {row.transaction_id: row for row in rows}
            _, locked = lock_transactions_with_cases(
                Transaction.objects.filter(transaction_id__in=wanted)
            )
            unknown = sorted(set(wanted) - {tx.transaction_id for tx in locked})
            if unknown:
                raise InvalidInput(
                    f"{len(unknown)} unknown transaction id(s): {', '.join(unknown[:10])}"
                )
            note = f"{justification} (file {source_name})"
            imported = unchanged = held = 0
            now = database_now()
            for tx in locked:
                row = wanted[tx.transaction_id]
                latest = latest_version(tx)
                standing = (
                    latest.label if latest and latest.status in STANDING_STATUSES else tx.label
                )
                if standing == row.label:
                    unchanged += 1
                    continue
                version = label_version_record(
                    actor=actor, tx=tx, label=row.label, reason_codes=list(row.reason_codes),
                    why="import", when=row.decided_at or now, source=LabelSource.IMPORT,
                    import_note=note,
                )  # fmt: skip
                imported += 1
                held += version.status == LabelStatus.HELD
            audit_record(
                actor=actor, action=AuditAction.LABELS_IMPORTED, object_type="cases.labelversion",
                object_repr=source_name[:255],
                after={"file": source_name, "justification": justification, "rows": len(rows),
                       "imported": imported, "unchanged": unchanged, "held": held},
            )  # fmt: skip
            return LabelsImported(imported, unchanged, held)
