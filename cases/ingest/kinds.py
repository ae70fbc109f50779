"""The inbox's kinds of file: which prefix holds which, and the header each is checked against."""

from __future__ import annotations

from cases.ingest import curation, shadow
from cases.models import IngestRun

FLAGGED_PREFIX = "flagged/"
# flagged/ holds transactions, curation/ IP observations, shadow/ a candidate model's scores.
INBOX_PREFIXES = (FLAGGED_PREFIX, curation.CURATION_PREFIX, shadow.SHADOW_PREFIX)


def run_kind_for_key(key: str) -> str:
    """A run's kind from its key's inbox prefix."""
    if key.startswith(curation.CURATION_PREFIX):
        return IngestRun.Kind.CURATION
    if key.startswith(shadow.SHADOW_PREFIX):
        return IngestRun.Kind.SHADOW
    return IngestRun.Kind.FLAGGED


def reader_contract(run: IngestRun) -> dict:
    """Header rules for the readers: each kind's contract (flagged transactions by default)."""
    if run.kind == IngestRun.Kind.CURATION:
        return {"columns": curation.CURATION_COLUMNS, "required": curation.CURATION_REQUIRED}
    if run.kind == IngestRun.Kind.SHADOW:
        return {"columns": shadow.SHADOW_COLUMNS, "required": shadow.SHADOW_REQUIRED}
    return {}
