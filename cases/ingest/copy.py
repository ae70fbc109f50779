"""Binary COPY of validated transactions straight into the transactions table."""

from __future__ import annotations

import json
import weakref
from collections.abc import Sequence

import numpy as np
import orjson
from django.db import connection
from pgvector.psycopg import register_vector
from psycopg.types.json import set_json_dumps

from cases.clock import database_now
from cases.ingest.validation import CleanTransaction

COPY_COLUMNS = (
    ("transaction_id", "text"),
    ("account_id", "text"),
    ("occurred_at", "timestamptz"),
    ("amount", "numeric"),
    ("currency", "text"),
    ("amount_reporting", "numeric"),
    ("merchant", "text"),
    ("merchant_category", "text"),
    ("channel", "text"),
    ("country", "text"),
    ("source_ip", "inet"),
    ("device_id", "text"),
    ("similarity_score", "float8"),
    ("model_version", "text"),
    ("outcome", "text"),
    # Sent as ready-made bytes of pgvector's binary format (see _vector_payloads): the server
    # reads a binary COPY field with the column's own receive function whatever the client
    # calls it, and encoding a chunk at once beats a dumper call per row.
    ("embedding", "bytea"),
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
    amounts_reporting: Sequence | None = None,
) -> int:
    """COPY (source row number, transaction) pairs; the caller has removed known ids.

    amounts_reporting: each row's amount in the reporting currency (None: no rate); left out,
    none is converted yet (cases_refresh_priority converts them later).
    """
    if not rows:
        return 0
    if amounts_reporting is None:
        amounts_reporting = [None] * len(rows)
    ingested_at = database_now()
    vectors = _vector_payloads([tx.embedding for _, tx in rows])
    with psycopg_connection().cursor() as cursor:
        # features: orjson writes the (validated: names to finite numbers) objects ~10x faster
        # than json.dumps; for this cursor only.
        set_json_dumps(_json_dumps, context=cursor)
        with cursor.copy(COPY_SQL) as copy:
            copy.set_types(COPY_TYPES)
            for (row_number, tx), vector, reporting in zip(
                rows, vectors, amounts_reporting, strict=True
            ):
                copy.write_row(
                    (
                        tx.transaction_id,
                        tx.account_id,
                        tx.occurred_at,
                        tx.amount,
                        tx.currency,
                        reporting,
                        tx.merchant,
                        tx.merchant_category,
                        tx.channel,
                        tx.country,
                        tx.source_ip,
                        tx.device_id,
                        tx.similarity_score,
                        tx.model_version,
                        tx.outcome,
                        vector,
                        tx.features,
                        case_id_by_account[tx.account_id],
                        ingest_run_id,
                        row_number,
                        ingested_at,
                    )
                )
    return len(rows)


def _json_dumps(value) -> bytes | str:
    try:
        return orjson.dumps(value)
    except TypeError:  # integers beyond 64 bits, which json.loads may have read
        return json.dumps(value)


def _vector_payloads(embeddings: list[np.ndarray | None]) -> list[memoryview | None]:
    """pgvector's binary format for each embedding (None stays None), built for all at once:
    a big-endian uint16 dimension, a uint16 0, then the values as big-endian float32."""
    present = [index for index, vector in enumerate(embeddings) if vector is not None]
    payloads: list[memoryview | None] = [None] * len(embeddings)
    if not present:
        return payloads
    dims = {len(embeddings[index]) for index in present}
    if len(dims) != 1:  # validation makes them all FRAUDCASE_EMBEDDING_DIM long
        raise ValueError(f"embeddings of different lengths in one chunk: {sorted(dims)}")
    dim = dims.pop()
    values = np.stack([embeddings[index] for index in present]).astype(">f4", copy=False)
    buffer = np.empty((len(present), 4 + 4 * dim), dtype=np.uint8)
    buffer[:, :4] = np.frombuffer(np.array([dim, 0], dtype=">u2").tobytes(), dtype=np.uint8)
    buffer[:, 4:] = values.view(np.uint8).reshape(len(present), 4 * dim)
    row_bytes = buffer.shape[1]
    view = memoryview(buffer.reshape(-1))  # slices of a flat view are cheap; 2-D ones are not
    for row, index in enumerate(present):
        payloads[index] = view[row * row_bytes : (row + 1) * row_bytes]
    return payloads
