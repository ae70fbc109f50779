"""Binary COPY of validated transactions straight into the transactions table."""

from __future__ import annotations

import weakref
from collections.abc import Sequence

from django.db import connection
from django.utils import timezone
from pgvector.psycopg import register_vector

from cases.ingest.validation import CleanTransaction

COPY_COLUMNS = (
    ("transaction_id", "text"),
    ("account_id", "text"),
    ("occurred_at", "timestamptz"),
    ("amount", "numeric"),
    ("currency", "text"),
    ("merchant", "text"),
    ("merchant_category", "text"),
    ("channel", "text"),
    ("country", "text"),
    ("source_ip", "inet"),
    ("device_id", "text"),
    ("similarity_score", "float8"),
    ("model_version", "text"),
    ("outcome", "text"),
    ("embedding", "vector"),
    ("features", "jsonb"),
    ("case_id", "int8"),
    ("ingest_run_id", "int8"),
    ("source_row", "int8"),
    ("ingested_at", "timestamptz"),
)
COPY_SQL = (
    f"COPY cases_transaction ({', '.join(name for name, _ in COPY_COLUMNS)}) "
    "FROM STDIN (FORMAT BINARY)"
)
COPY_TYPES = [type_name for _, type_name in COPY_COLUMNS]

_connections_with_vector = weakref.WeakSet()


def psycopg_connection():
    """The psycopg connection under Django's, with pgvector's binary adapters registered."""
    connection.ensure_connection()
    raw = connection.connection
    if raw not in _connections_with_vector:
        register_vector(raw)
        _connections_with_vector.add(raw)
    return raw


def copy_transactions(
    rows: Sequence[tuple[int, CleanTransaction]],
    *,
    case_id_by_account: dict[str, int],
    ingest_run_id: int | None,
) -> int:
    """COPY (source row number, transaction) pairs; the caller has removed known ids."""
    if not rows:
        return 0
    ingested_at = timezone.now()
    with psycopg_connection().cursor() as cursor, cursor.copy(COPY_SQL) as copy:
        copy.set_types(COPY_TYPES)
        for row_number, tx in rows:
            copy.write_row(
                (
                    tx.transaction_id,
                    tx.account_id,
                    tx.occurred_at,
                    tx.amount,
                    tx.currency,
                    tx.merchant,
                    tx.merchant_category,
                    tx.channel,
                    tx.country,
                    tx.source_ip,
                    tx.device_id,
                    tx.similarity_score,
                    tx.model_version,
                    tx.outcome,
                    tx.embedding,
                    tx.features,
                    case_id_by_account[tx.account_id],
                    ingest_run_id,
                    row_number,
                    ingested_at,
                )
            )
    return len(rows)
