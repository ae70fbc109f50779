"""Curation records: the second inbox contract, taken in by the same pipeline as flagged files.

Files under curation/ carry one observation per row: `source_ip` (required), `transaction_id`,
`account_id`, `observed_at`, `user_agent`, and any extra metadata as a JSON object (a
`metadata` column; other unknown columns are kept in it too). The run machinery (books,
checkpoints, quarantine, retries) is the one in cases/ingest/services.py; this module
validates and loads a chunk. A row re-delivered (same IP, transaction, account, time and
user agent) counts as a duplicate, never as a second record.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from django.db import connection, transaction

from cases import dispatch
from cases.clock import database_now
from cases.ingest.lease import run_books
from cases.ingest.quarantine import quarantined_row
from cases.ingest.readers import SourceRecord
from cases.ingest.validation import absent, moment_value, shown, text_value
from cases.ips.ipaddr import canonical_ip, parse_ip
from cases.models import IngestRun, QuarantinedRow

CURATION_PREFIX = "curation/"
CURATION_COLUMNS = (
    "source_ip",
    "transaction_id",
    "account_id",
    "observed_at",
    "user_agent",
    "metadata",
)
CURATION_REQUIRED = ("source_ip",)
MAX_KEY_LENGTH = 128
MAX_USER_AGENT_LENGTH = 2048
MAX_METADATA_BYTES = 16_384


@dataclass(slots=True)
class CleanCuration:
    source_ip: str
    transaction_id: str
    account_id: str
    observed_at: datetime | None
    user_agent: str
    metadata: dict

    @property
    def dedupe_key(self) -> str:
        observed = self.observed_at.astimezone(UTC).isoformat() if self.observed_at else ""
        parts = (self.source_ip, self.transaction_id, self.account_id, observed, self.user_agent)
        return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def _metadata(values: dict, errors: list[str]) -> dict:
    value = values.get("metadata")
    metadata: dict = {}
    if isinstance(value, str) and value.strip():
        try:
            value = json.loads(value)
        except ValueError:
            errors.append("metadata is not valid JSON")
            return {}
    if isinstance(value, dict):
        metadata = dict(value)
    elif not absent(value):
        errors.append(f"metadata must be a JSON object, got {type(value).__name__}")
        return {}
    # Columns outside the contract are extra metadata too: nothing the edge sent is dropped.
    for name, extra in values.items():
        if name not in CURATION_COLUMNS and not absent(extra):
            metadata.setdefault(str(name), extra)
    try:
        encoded = json.dumps(metadata, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        errors.append("metadata cannot be stored as JSON")
        return {}
    if "\\u0000" in encoded or "\x00" in encoded:
        errors.append("metadata contains a NUL character")
        return {}
    if len(encoded.encode()) > MAX_METADATA_BYTES:
        errors.append(f"metadata is larger than {MAX_METADATA_BYTES} bytes")
        return {}
    return json.loads(encoded)


def validate_curation_row(values: dict) -> tuple[CleanCuration | None, list[str]]:
    """Check one curation row; return (record, []) or (None, every reason it breaks the rules)."""
    errors: list[str] = []
    raw_ip = values.get("source_ip")
    source_ip = ""
    if absent(raw_ip):
        errors.append("source_ip is required")
    else:
        address = parse_ip(raw_ip) if isinstance(raw_ip, str) else None
        if address is None:
            errors.append(f"source_ip is not an IPv4 or IPv6 address: {shown(raw_ip)}")
        else:
            source_ip = canonical_ip(address)
    transaction_id = text_value(values, "transaction_id", errors, limit=MAX_KEY_LENGTH)
    account_id = text_value(values, "account_id", errors, limit=MAX_KEY_LENGTH)
    observed_at = moment_value(values, "observed_at", errors)
    user_agent = text_value(values, "user_agent", errors, limit=MAX_USER_AGENT_LENGTH)
    metadata = _metadata(values, errors)
    if errors:
        return None, errors
    return (
        CleanCuration(source_ip, transaction_id, account_id, observed_at, user_agent, metadata),
        [],
    )


INSERT_SQL = """
INSERT INTO cases_curationrecord (
    dedupe_key, source_ip, transaction_id, account_id, observed_at, user_agent, metadata,
    source_row, ingest_run_id, ingested_at
)
SELECT incoming.dedupe_key, incoming.source_ip::inet, incoming.transaction_id,
       incoming.account_id, incoming.observed_at, incoming.user_agent,
       incoming.metadata::jsonb, incoming.source_row, %s, %s
FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[], %s::timestamptz[], %s::text[],
            %s::text[], %s::bigint[])
     AS incoming(dedupe_key, source_ip, transaction_id, account_id, observed_at, user_agent,
            metadata, source_row)
ON CONFLICT (dedupe_key) DO NOTHING
RETURNING 1
"""


def _insert_new(run: IngestRun, good: list[tuple[int, CleanCuration]]) -> int:
    """Insert the records whose key is new; re-delivered ones are left alone. Returns inserted."""
    first_by_key: dict[str, tuple[int, CleanCuration]] = {}
    for row_number, record in good:
        first_by_key.setdefault(record.dedupe_key, (row_number, record))
    if not first_by_key:
        return 0
    rows = list(first_by_key.items())
    with connection.cursor() as cursor:
        cursor.execute(
            INSERT_SQL,
            [
                run.pk,
                database_now(),
                [key for key, _ in rows],
                [record.source_ip for _, (_, record) in rows],
                [record.transaction_id for _, (_, record) in rows],
                [record.account_id for _, (_, record) in rows],
                [record.observed_at for _, (_, record) in rows],
                [record.user_agent for _, (_, record) in rows],
                [json.dumps(record.metadata, ensure_ascii=False) for _, (_, record) in rows],
                [row_number for _, (row_number, _) in rows],
            ],
        )
        return len(cursor.fetchall())


def curation_commit_chunk(
    run: IngestRun,
    records: list[SourceRecord],
    bytes_read: int,
    *,
    claimed_by: str | None = None,
    checkpoint: dict | None = None,
) -> None:
    """Validate, load and quarantine one chunk of a curation file and move the checkpoint,
    atomically (the same books as flagged files: read = loaded + duplicates + quarantined).
    checkpoint: the chunk's progress fields (bytes read, resume offset), bytes_read alone if None.
    """

    good: list[tuple[int, CleanCuration]] = []
    quarantined: list[QuarantinedRow] = []
    for record in records:
        reasons = list(record.errors)
        clean = None
        if record.values is not None:
            clean, errors = validate_curation_row(record.values)
            reasons.extend(errors)
        if clean is not None and not reasons:
            good.append((record.row_number, clean))
        else:
            quarantined.append(quarantined_row(run, record, reasons))
    with transaction.atomic():
        loaded = _insert_new(run, good)
        QuarantinedRow.objects.bulk_create(quarantined, batch_size=1000)
        run_books(
            run.pk, claimed_by, read=len(records), loaded=loaded, duplicates=len(good) - loaded,
            quarantined=len(quarantined), **(checkpoint or {"bytes_read": bytes_read}),
        )  # fmt: skip
        queue_ip_enrichment(record.source_ip for _, record in good)


def queue_ip_enrichment(ips: Iterable) -> None:
    """After the commit, have a worker place these IPs (best effort: the beat sweep catches
    any that could not be queued)."""
    distinct = sorted({str(ip) for ip in ips if ip})
    if not distinct:
        return
    dispatch.queue_on_commit(dispatch.ENRICH_IPS, distinct)
