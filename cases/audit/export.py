"""Exporting the audit trail as CSV for auditors: permission checked, the export itself audited."""

from __future__ import annotations

import csv
import json
from datetime import datetime
from typing import TextIO

from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction

from cases.audit.trail import audit_record, refusals_audited
from cases.errors import InvalidInput
from cases.models import AuditAction, AuditEvent
from cases.policies import require_permission

CSV_COLUMNS = (
    "id", "occurred_at", "actor_name", "action", "object_type", "object_id", "object_repr",
    "before", "after", "request_id", "client_ip", "previous_hash", "hash",
)  # fmt: skip

# A spreadsheet reads a cell starting with one of these as a formula (OWASP CSV injection).
# A leading quote is escaped too, so one stripped quote always gives the original text back.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "'")

ATTEMPTED = "export the audit trail"


def audit_export_csv(*, actor, start: datetime, end: datetime, output: TextIO) -> int:
    """Write the events that occurred in [start, end) to output as CSV, oldest first.

    Needs cases.export_audit; refusals (permission, bad range) are audited and nothing is
    written. Rows stream from one query (one snapshot) in chunks; every cell that a spreadsheet
    would run as a formula is prefixed with a single quote. before and after are JSON (empty
    when absent). The export is recorded as an AUDIT_EXPORTED event carrying the range and row
    count, in the same transaction. Returns the number of rows written (header excluded).
    """
    with refusals_audited(actor=actor, attempted=ATTEMPTED, object_type="cases.auditevent"):
        require_permission(actor, "export_audit", attempted=ATTEMPTED)
        _check_range(start, end)
        with transaction.atomic():
            writer = csv.writer(output)
            writer.writerow(CSV_COLUMNS)
            rows = 0
            events = AuditEvent.objects.filter(occurred_at__gte=start, occurred_at__lt=end)
            for event in events.order_by("id").iterator(chunk_size=2000):
                writer.writerow([_neutralised(cell) for cell in _cells(event)])
                rows += 1
            audit_record(
                actor=actor,
                action=AuditAction.AUDIT_EXPORTED,
                object_type="cases.auditevent",
                object_repr=f"audit trail {start.isoformat()} to {end.isoformat()}",
                after={"start": start.isoformat(), "end": end.isoformat(), "rows": rows},
            )
    return rows


def _check_range(start, end) -> None:
    for name, value in (("start", start), ("end", end)):
        if not isinstance(value, datetime) or value.tzinfo is None:
            raise InvalidInput(f"{name} must be a date and time with a time zone")
    if start >= end:
        raise InvalidInput(
            f"the range is empty or reversed: start {start.isoformat()} is not before "
            f"end {end.isoformat()}"
        )


def _cells(event: AuditEvent) -> list[str]:
    return [
        str(event.pk),
        event.occurred_at.isoformat(),
        event.actor_name,
        event.action,
        event.object_type,
        event.object_id,
        event.object_repr,
        _json_cell(event.before),
        _json_cell(event.after),
        event.request_id,
        event.client_ip or "",
        event.previous_hash,
        event.hash,
    ]


def _json_cell(value) -> str:
    if value is None:
        return ""
    return json.dumps(value, cls=DjangoJSONEncoder, sort_keys=True, ensure_ascii=False)


def _neutralised(cell: str) -> str:
    return "'" + cell if cell.startswith(FORMULA_TRIGGERS) else cell
