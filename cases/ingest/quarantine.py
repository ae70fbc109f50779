"""A row that failed validation, kept with its line number, raw text and every reason."""

from __future__ import annotations

from cases.ingest.readers import SourceRecord
from cases.models import IngestRun, QuarantinedRow


def quarantined_row(run: IngestRun, record: SourceRecord, reasons: list[str]) -> QuarantinedRow:
    transaction_id = ""
    if record.values is not None and isinstance(record.values.get("transaction_id"), str):
        transaction_id = record.values["transaction_id"].strip()[:256]
    return QuarantinedRow(
        ingest_run=run,
        row_number=record.row_number,
        # PostgreSQL text cannot hold NUL; keep it visible instead of losing the row.
        raw_text=record.raw_text().replace("\x00", "\\u0000"),
        reasons=reasons or ["row could not be read"],
        transaction_id=transaction_id.replace("\x00", ""),
    )
