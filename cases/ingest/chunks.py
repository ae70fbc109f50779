"""One chunk of an ingest run: rows read and validated (in a background thread), then
loaded in one transaction with the run's counters, so rows_read is always a checkpoint."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import F

from analytics.rollups import record_chunk
from cases import dispatch
from cases.audit.trail import system_actor
from cases.currency.rates import RateBook
from cases.ingest import case_opening, curation, shadow
from cases.ingest.copy import copy_transactions
from cases.ingest.lease import run_books
from cases.ingest.quarantine import quarantined_row
from cases.ingest.readers import SourceRecord, UnreadableFile
from cases.ingest.validation import CleanTransaction, validate_row
from cases.models import IngestRun, QuarantinedRow
from cases.sqlarrays import text_array
from cases.workflow import services as case_services
from cases.workflow.services.routing import TRIGGER_TRANSACTIONS, lock_round_robin_queues

logger = logging.getLogger(__name__)

# A chunk that loses a race for a transaction id (another worker) is retried this often.
CHUNK_ATTEMPTS = 3


@dataclass(slots=True)
class PreparedChunk:
    """Rows read since the last checkpoint, validated (flagged transactions), not yet loaded."""

    records: list[SourceRecord]
    bytes_read: int
    good: list[tuple[int, CleanTransaction]]
    quarantined: list[QuarantinedRow]

    @property
    def checkpoint(self) -> dict:
        """The run's progress after this chunk: bytes read, and where a resumed run reads on."""
        last = self.records[-1]
        return {
            "bytes_read": self.bytes_read,
            "resume_offset": last.resume_offset,
            "resume_line": last.resume_line or 0,
        }


def prepared_chunks(
    run: IngestRun, records: Iterator[SourceRecord], body, *, a_file: bool = True
) -> Iterator[PreparedChunk]:
    """The records (those after the run's checkpoint: the reader starts there), in chunks of
    FRAUDCASE_INGEST_CHUNK_ROWS, or fewer when their text reaches FRAUDCASE_INGEST_CHUNK_MAX_BYTES (long rows).

    When the stream breaks (UnreadableFile), the rows read before it are real rows: they come
    as a last chunk to keep, then the error; also when the break falls inside the first chunk
    (a file unreadable from its start, such as a bad header, raises before any row).
    body.bytes_read is the progress to record with each chunk (cases.ingest.s3_object).
    a_file: False for rows posted to the API, which are judged one by one (a flag with an
    embedding of the wrong size is quarantined, never the whole request refused as a file).
    """
    chunk_rows = settings.FRAUDCASE_INGEST_CHUNK_ROWS
    chunk_text = settings.FRAUDCASE_INGEST_CHUNK_MAX_BYTES
    first = a_file and run.rows_read == 0  # nothing committed yet: the file's first chunk
    chunk: list[SourceRecord] = []
    text_held = 0
    try:
        for record in records:
            chunk.append(record)
            text_held += len(record.raw) if record.raw is not None else 0
            if len(chunk) >= chunk_rows or text_held >= chunk_text:
                yield _prepare(run, chunk, body.bytes_read, first=first)
                chunk, text_held, first = [], 0, False
    except UnreadableFile:
        if chunk:
            yield _prepare(run, chunk, body.bytes_read)
        raise
    if chunk:
        yield _prepare(run, chunk, body.bytes_read, first=first)


class EmbeddingSizeMismatch(UnreadableFile):
    """Every row of the file's first chunk has an embedding of the wrong size."""


def _prepare(
    run: IngestRun, records: list[SourceRecord], bytes_read: int, *, first: bool = False
) -> PreparedChunk:
    """Validate a chunk of flagged transactions (pure: no database, safe in another thread).

    first: the file's first chunk. When each of its rows carries an embedding of one wrong
    size, the file was made for another model (or FRAUDCASE_EMBEDDING_DIM is wrong): the run
    fails as a whole with that reason (EmbeddingSizeMismatch) instead of quarantining every row.
    """
    good: list[tuple[int, CleanTransaction]] = []
    quarantined: list[QuarantinedRow] = []
    if run.kind == IngestRun.Kind.FLAGGED:
        dim = settings.FRAUDCASE_EMBEDDING_DIM
        for record in records:
            reasons = list(record.errors)
            clean = None
            if record.values is not None:
                clean, errors = validate_row(record.values, embedding_dim=dim)
                reasons.extend(errors)
            if clean is not None and not reasons:
                good.append((record.row_number, clean))
            else:
                quarantined.append(quarantined_row(run, record, reasons))
        if first and not good and quarantined:
            _refuse_wrong_embedding_size(quarantined, dim)
    return PreparedChunk(records, bytes_read, good, quarantined)


# The reason validate_row gives for an embedding of the wrong size.
WRONG_SIZE = re.compile(r"embedding has (\d+) values, expected \d+")


def _refuse_wrong_embedding_size(quarantined: list[QuarantinedRow], dim: int) -> None:
    """Raise EmbeddingSizeMismatch when every row was refused for its embedding's size."""
    sizes = set()
    for row in quarantined:
        match = next(filter(None, (WRONG_SIZE.fullmatch(reason) for reason in row.reasons)), None)
        if match is None:
            return
        sizes.add(int(match.group(1)))
    raise EmbeddingSizeMismatch(
        f"every row's embedding has {' or '.join(map(str, sorted(sizes)))} values but "
        f"FRAUDCASE_EMBEDDING_DIM is {dim} (the database column's size): nothing was loaded. "
        "The file was made for another model, or the setting does not match the detector "
        "(`manage.py check --database default` compares the setting with the database)"
    )


def commit_chunk(run: IngestRun, chunk: PreparedChunk, *, claimed_by: str | None = None) -> None:
    """Load and quarantine one chunk, and move the run's checkpoint and heartbeat, atomically.

    claimed_by: the worker's lease on the run; the chunk rolls back (LeaseLost) when another
    worker took the run over meanwhile. None for a run nobody else can see (API intake).
    """
    if run.kind == IngestRun.Kind.CURATION:
        return curation.curation_commit_chunk(
            run, chunk.records, chunk.bytes_read, claimed_by=claimed_by, checkpoint=chunk.checkpoint
        )
    if run.kind == IngestRun.Kind.SHADOW:
        return shadow.shadow_commit_chunk(
            run, chunk.records, chunk.bytes_read, claimed_by=claimed_by, checkpoint=chunk.checkpoint
        )
    records = chunk.records
    good, quarantined = chunk.good, chunk.quarantined
    for attempt in range(1, CHUNK_ATTEMPTS + 1):
        try:
            # The chunk's tasks (neighbour verdicts, graph, IPs) leave in one broker round trip.
            with dispatch.sends_batched(), transaction.atomic():
                _plan_for_lookups_by_key(len(good))
                loaded, duplicates, opened, touched = _load_transactions(run, good)
                QuarantinedRow.objects.bulk_create(quarantined, batch_size=1000)
                curation.queue_ip_enrichment(tx.source_ip for _, tx in good)
                run_books(
                    run.pk, claimed_by, read=len(records), loaded=loaded, duplicates=duplicates,
                    quarantined=len(quarantined), cases_opened=F("cases_opened") + len(opened),
                    **chunk.checkpoint,
                )  # fmt: skip
                # Last: routing audits each opened case, and the audit chain lock is held from
                # the first event to the commit. Round-robin queues are locked before it, for
                # both calls (cases.workflow.services.routing).
                lock_round_robin_queues()
                case_services.cases_route_new(actor=system_actor(), case_ids=opened)
                # Cases that grew (score, outcome, amount) follow their routing rules.
                case_services.cases_reroute(
                    actor=system_actor(), case_ids=set(touched) - set(opened),
                    trigger=TRIGGER_TRANSACTIONS,
                )  # fmt: skip
            return
        except IntegrityError as exc:
            # Another worker committed some of these ids meanwhile: look again for known ids.
            if attempt == CHUNK_ATTEMPTS or not _is_transaction_id_race(exc):
                raise


# Below this many rows the planner looks the keys up by index anyway (checked at 50,000 cases).
FEW_ROWS_FOR_PLANNING = 50


def _plan_for_lookups_by_key(rows: int = FEW_ROWS_FOR_PLANNING) -> None:
    """For this chunk's transaction: price a random page read as a cached one.

    A chunk looks up and updates thousands of cases (and checks thousands of ids) by key. With
    PostgreSQL's default random_page_cost of 4 the planner reads all of cases_case instead, once
    per statement, which grows with every case ever opened; by key, case upkeep took half the
    time at 230,000 cases. Servers tuned for SSDs (1.1) need nothing; a setting can turn it off.
    A chunk of a few rows (an API flag) skips the round trip: it looks up a few keys.
    """
    cost = settings.FRAUDCASE_INGEST_RANDOM_PAGE_COST
    if cost is not None and rows >= FEW_ROWS_FOR_PLANNING:
        with connection.cursor() as cursor:
            cursor.execute("SELECT set_config('random_page_cost', %s, true)", [str(cost)])


def _is_transaction_id_race(exc: IntegrityError) -> bool:
    diag = getattr(exc.__cause__, "diag", None)
    return bool(diag and diag.constraint_name and "transaction_id" in diag.constraint_name)


def _load_transactions(
    run: IngestRun, good: list[tuple[int, CleanTransaction]]
) -> tuple[int, int, list[int], list[int]]:
    """COPY the chunk's new transactions and attach them to cases.

    Returns (loaded, duplicates, ids of the cases opened, ids of the cases rows joined). A duplicate is an id seen earlier in the chunk
    or already in the table.
    """
    first_by_id: dict[str, tuple[int, CleanTransaction]] = {}
    for row in good:
        first_by_id.setdefault(row[1].transaction_id, row)
    # One array parameter: the ORM's IN (...) spends milliseconds per thousand ids on them.
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT transaction_id FROM cases_transaction WHERE transaction_id = ANY(%s::text[])",
            [text_array(first_by_id)],
        )
        known = {row[0] for row in cursor.fetchall()}
    new_rows = [row for tx_id, row in first_by_id.items() if tx_id not in known]
    duplicates = len(good) - len(new_rows)
    case_id_by_account, opened = case_opening.cases_open_for_accounts(
        account_ids=(tx.account_id for _, tx in new_rows)
    )
    rates = RateBook.load({tx.currency for _, tx in new_rows})
    amounts_reporting = [
        rates.convert(tx.amount, tx.currency, tx.occurred_at) for _, tx in new_rows
    ]
    loaded = copy_transactions(
        new_rows, case_id_by_account=case_id_by_account, ingest_run_id=run.pk,
        amounts_reporting=amounts_reporting,
    )  # fmt: skip
    record_chunk(run_id=run.pk, transactions=[tx for _, tx in new_rows])  # dashboards' rollups
    # Only the new rows are folded in: recomputing from all of each case's transactions
    # re-read the account's history at every chunk.
    case_ids = [case_id_by_account[tx.account_id] for _, tx in new_rows]
    case_opening.cases_fold_in_transactions(
        case_ids=case_ids,
        scores=[tx.similarity_score for _, tx in new_rows],
        outcomes=[tx.outcome for _, tx in new_rows],
        amounts=[tx.amount for _, tx in new_rows],
        amounts_reporting=amounts_reporting,
        currencies=[tx.currency for _, tx in new_rows],
    )
    if any(tx.embedding is not None for _, tx in new_rows):
        # Centroids and neighbour verdicts cost a k-NN lookup per case: a worker does them
        # after the commit rather than slowing every chunk. Best effort (robust): the hourly
        # sweep catches a refresh that could not be queued.
        touched = sorted(set(case_id_by_account.values()))
        dispatch.queue_on_commit(dispatch.REFRESH_NEIGHBOUR_VERDICTS, touched)
        dispatch.queue_on_commit(dispatch.INDEX_NEW_EMBEDDINGS)
    return loaded, duplicates, opened, case_ids
