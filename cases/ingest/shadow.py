"""Shadow scores: the third inbox contract, taken in by the same pipeline as flagged files.

Files under shadow/ carry one score per row from a candidate model that scored the same
traffic as the detector in production: `transaction_id` and `model_version` (required),
`similarity_score` (required, in [0, 1]), `outcome` (optional: approve / investigate /
block), `scored_at` (optional, ISO 8601 with offset). The run machinery (books, checkpoints,
quarantine, retries) is the one in cases/ingest/services.py; this module validates and loads
a chunk.

(transaction_id, model_version) is the idempotency key: a repeat is a duplicate, the first
score kept. A score whose transaction is already in is linked to it here (transaction_pk,
cases_transaction.id); one whose transaction has not arrived yet is kept (keyed by the text,
no foreign key) and linked by beat when it comes (cases.shadow.services.shadow_scores_link).
A score whose model_version is the transaction's own (the champion's) is quarantined: it says
nothing a shadow comparison could use, and most likely the file was written by the wrong job.
Known only when the transaction is already in; otherwise such a score is never linked and the
read side leaves it out (cases.shadow.selectors).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db import connection, transaction

from cases.clock import database_now
from cases.ingest.contract import MAX_LENGTHS
from cases.ingest.lease import run_books
from cases.ingest.quarantine import quarantined_row
from cases.ingest.readers import SourceRecord
from cases.ingest.validation import _outcome, _similarity_score, moment_value, shown, text_value
from cases.models import IngestRun, QuarantinedRow
from cases.sqlarrays import text_array

SHADOW_PREFIX = "shadow/"
SHADOW_COLUMNS = ("transaction_id", "model_version", "similarity_score", "outcome", "scored_at")
SHADOW_REQUIRED = ("transaction_id", "model_version", "similarity_score")


@dataclass(slots=True)
class CleanShadowScore:
    transaction_id: str
    model_version: str
    similarity_score: float
    outcome: str
    scored_at: datetime | None

    @property
    def key(self) -> tuple[str, str]:
        return (self.transaction_id, self.model_version)


def validate_shadow_row(values: dict) -> tuple[CleanShadowScore | None, list[str]]:
    """Check one shadow row; return (score, []) or (None, every reason it breaks the rules)."""
    errors: list[str] = []
    transaction_id = text_value(
        values, "transaction_id", errors, required=True, limit=MAX_LENGTHS["transaction_id"]
    )
    model_version = text_value(
        values, "model_version", errors, required=True, limit=MAX_LENGTHS["model_version"]
    )
    score = _similarity_score(values, errors)
    outcome = _outcome(values, errors)
    scored_at = moment_value(values, "scored_at", errors)
    if errors:
        return None, errors
    return CleanShadowScore(transaction_id, model_version, score, outcome, scored_at), []


def champion_reason(model_version: str) -> str:
    """Why a score of the transaction's own model version is refused."""
    return (
        f"model_version {shown(model_version)} is the transaction's own model version (the "
        "champion): a shadow score must come from another model"
    )


def _champion_versions(ids: list[str]) -> dict[str, tuple[int, str]]:
    """(cases_transaction.id, model version) of each of these transaction ids already loaded
    (one query)."""
    if not ids:
        return {}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT transaction_id, id, model_version FROM cases_transaction "
            "WHERE transaction_id = ANY(%s::text[])",
            [text_array(ids)],
        )
        return {text: (pk, version) for text, pk, version in cursor.fetchall()}


INSERT_SQL = """
INSERT INTO cases_shadowscore (
    transaction_id, model_version, similarity_score, outcome, scored_at, source_row,
    ingest_run_id, ingested_at, transaction_pk
)
SELECT incoming.transaction_id, incoming.model_version, incoming.similarity_score,
       incoming.outcome, incoming.scored_at, incoming.source_row, %s, %s, incoming.transaction_pk
FROM unnest(%s::text[], %s::text[], %s::float8[], %s::text[], %s::timestamptz[], %s::bigint[],
            %s::bigint[])
     AS incoming(transaction_id, model_version, similarity_score, outcome, scored_at,
                 source_row, transaction_pk)
ON CONFLICT (transaction_id, model_version) DO NOTHING
RETURNING 1
"""


def _insert_new(
    run: IngestRun, good: list[tuple[int, CleanShadowScore]], pks: dict[str, int]
) -> int:
    """Insert the scores whose (transaction, model) is new, linked to their transaction's id
    when it is in (pks: text id -> cases_transaction.id); repeats are left alone. Returns how
    many were inserted."""
    first_by_key: dict[tuple[str, str], tuple[int, CleanShadowScore]] = {}
    for row_number, score in good:
        first_by_key.setdefault(score.key, (row_number, score))
    if not first_by_key:
        return 0
    rows = list(first_by_key.values())
    with connection.cursor() as cursor:
        cursor.execute(
            INSERT_SQL,
            [
                run.pk,
                database_now(),
                text_array(score.transaction_id for _, score in rows),
                text_array(score.model_version for _, score in rows),
                [score.similarity_score for _, score in rows],
                text_array(score.outcome for _, score in rows),
                [score.scored_at for _, score in rows],
                [row_number for row_number, _ in rows],
                [pks.get(score.transaction_id) for _, score in rows],
            ],
        )
        return len(cursor.fetchall())


def shadow_commit_chunk(
    run: IngestRun,
    records: list[SourceRecord],
    bytes_read: int,
    *,
    claimed_by: str | None = None,
    checkpoint: dict | None = None,
) -> None:
    """Validate, load and quarantine one chunk of a shadow file and move the checkpoint,
    atomically (the same books as flagged files: read = loaded + duplicates + quarantined).
    checkpoint: the chunk's progress fields (bytes read, resume offset), bytes_read alone if None.
    """
    checked: list[tuple[SourceRecord, CleanShadowScore | None, list[str]]] = []
    for record in records:
        reasons = list(record.errors)
        clean = None
        if record.values is not None:
            clean, errors = validate_shadow_row(record.values)
            reasons.extend(errors)
        checked.append((record, clean, reasons))
    with transaction.atomic():
        champions = _champion_versions(
            sorted({clean.transaction_id for _, clean, reasons in checked if clean and not reasons})
        )
        good: list[tuple[int, CleanShadowScore]] = []
        quarantined: list[QuarantinedRow] = []
        for record, clean, reasons in checked:
            champion = champions.get(clean.transaction_id) if clean is not None else None
            if champion is not None and champion[1] == clean.model_version:
                reasons.append(champion_reason(clean.model_version))
            if clean is not None and not reasons:
                good.append((record.row_number, clean))
            else:
                quarantined.append(quarantined_row(run, record, reasons))
        loaded = _insert_new(run, good, {text: pk for text, (pk, _) in champions.items()})
        QuarantinedRow.objects.bulk_create(quarantined, batch_size=1000)
        run_books(
            run.pk, claimed_by, read=len(records), loaded=loaded, duplicates=len(good) - loaded,
            quarantined=len(quarantined), **(checkpoint or {"bytes_read": bytes_read}),
        )  # fmt: skip
