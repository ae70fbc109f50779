"""What PostgreSQL alone spends per ingested row: the same binary COPY payload loaded into a
bare table and into copies of cases_transaction with, step by step, what the real table has.

    python bench/copy_floor.py [--rows 50000] [--repeat 3]

The payload is exactly ingest's COPY (cases.ingest.copy.COPY_COLUMNS, vectors in pgvector's
binary form), encoded once, so every step measures the server's work only: wall seconds and
the CPU seconds of the PostgreSQL backend (the best of --repeat loads into an empty table).
It bounds bench/ingest.py's ratio: ingest can be no faster than its COPY into its own table.
Embedded servers under var/bench-floor, wiped at the start of each run.
"""

from __future__ import annotations

import argparse
import io
import sys
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))
sys.path.insert(0, str(BASE_DIR / "bench"))

from ingest import RowFactory, postgres_backend_process  # noqa: E402
from vardir import prepare_var_dir, use_own_servers  # noqa: E402

MARKER = ".fraudcase-bench-floor"  # only a folder carrying this is ever wiped
# (step, SQL making table "floor_target" from the previous step's, or None for the real table)
STEPS = (
    ("bare table (same columns, no index, no constraint)",
     "CREATE TABLE floor_target (LIKE cases_transaction INCLUDING DEFAULTS INCLUDING IDENTITY)"),
    ("+ primary key, unique transaction id, the 6 btree indexes",
     "CREATE TABLE floor_target (LIKE cases_transaction INCLUDING ALL)"),
    ("+ foreign keys to the case and the ingest run",
     "CREATE TABLE floor_target (LIKE cases_transaction INCLUDING ALL);"
     "ALTER TABLE floor_target ADD FOREIGN KEY (case_id) REFERENCES cases_case (id),"
     " ADD FOREIGN KEY (ingest_run_id) REFERENCES cases_ingestrun (id)"),
    ("+ the trigger queueing embeddings for the graph",
     "CREATE TABLE floor_target (LIKE cases_transaction INCLUDING ALL);"
     "ALTER TABLE floor_target ADD FOREIGN KEY (case_id) REFERENCES cases_case (id),"
     " ADD FOREIGN KEY (ingest_run_id) REFERENCES cases_ingestrun (id);"
     "CREATE TRIGGER floor_queued AFTER INSERT ON floor_target REFERENCING NEW TABLE AS new_rows"
     " FOR EACH STATEMENT EXECUTE FUNCTION cases_queue_new_embeddings()"),
    ("cases_transaction itself", None),
)  # fmt: skip


def payload(rows: int) -> bytes:
    """Ingest's COPY of `rows` generated transactions, as binary COPY bytes."""
    from django.db import connection

    from cases.ingest.case_opening import cases_open_for_accounts
    from cases.ingest.copy import COPY_COLUMNS, copy_transactions
    from cases.ingest.validation import validate_row
    from cases.models import IngestRun

    run = IngestRun.objects.create(bucket="bench", key="floor", etag="floor", triggered_by="bench")
    clean = []
    for number, values in enumerate(RowFactory(rows).part(0, rows, "fl"), start=1):
        transaction, errors = validate_row(values, embedding_dim=384)
        assert not errors, errors
        clean.append((number, transaction))
    case_ids, _ = cases_open_for_accounts(account_ids=(tx.account_id for _, tx in clean))
    copy_transactions(clean, case_id_by_account=case_ids, ingest_run_id=run.pk)
    names = ", ".join(name for name, _ in COPY_COLUMNS)
    buffer = io.BytesIO()
    raw = connection.connection
    with raw.cursor() as cursor:
        with cursor.copy(
            f"COPY (SELECT {names} FROM cases_transaction ORDER BY id) TO STDOUT (FORMAT BINARY)"
        ) as copy:
            for data in copy:
                buffer.write(data)
        cursor.execute("TRUNCATE cases_transaction CASCADE")
    return buffer.getvalue()


def load(raw, backend, table: str, data: bytes) -> tuple[float, float]:
    """(wall, backend CPU) seconds of one COPY of data into table, committed."""
    from cases.ingest.copy import COPY_COLUMNS

    names = ", ".join(name for name, _ in COPY_COLUMNS)
    with raw.cursor() as cursor:
        cursor.execute("CHECKPOINT")
        started, cpu_started = time.perf_counter(), sum(backend.cpu_times()[:2])
        with raw.transaction():
            with cursor.copy(f"COPY {table} ({names}) FROM STDIN (FORMAT BINARY)") as copy:
                for offset in range(0, len(data), 1 << 20):
                    copy.write(data[offset : offset + (1 << 20)])
        return time.perf_counter() - started, sum(backend.cpu_times()[:2]) - cpu_started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=3, help="loads per step; the best counts")
    parser.add_argument("--var-dir", type=Path, default=BASE_DIR / "var" / "bench-floor")
    args = parser.parse_args()
    if args.rows < 10_000 or args.repeat < 1:
        sys.exit(
            "--rows must be at least 10000 (CPU time comes in 10 ms ticks) and --repeat 1 or more"
        )
    use_own_servers(args.var_dir)
    prepare_var_dir(args.var_dir.resolve(), marker=MARKER, made_by="bench/copy_floor.py")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from fraudcase import embedded

    try:
        call_command("migrate", verbosity=0)
        data = payload(args.rows)
        raw = connection.connection
        raw.autocommit = True
        backend = postgres_backend_process()
        print(f"payload: {args.rows:,} rows, {len(data) / 1e6:.0f} MB of binary COPY\n")
        print("| step | wall s | PostgreSQL CPU s | µs per row | bare / this, by CPU |")
        print("|---|---:|---:|---:|---:|")
        bare_cpu = None
        for label, create_sql in STEPS:
            best = None
            for _ in range(args.repeat):
                with raw.cursor() as cursor:
                    if create_sql is None:
                        cursor.execute("TRUNCATE cases_transaction CASCADE")
                        table = "cases_transaction"
                    else:
                        cursor.execute("DROP TABLE IF EXISTS floor_target")
                        for statement in create_sql.split(";"):
                            cursor.execute(statement)
                        table = "floor_target"
                timing = load(raw, backend, table, data)
                best = timing if best is None or timing[1] < best[1] else best
            wall, cpu = best
            bare_cpu = bare_cpu or cpu
            print(
                f"| {label} | {wall:.2f} | {cpu:.2f} | {cpu / args.rows * 1e6:.1f} | "
                f"{bare_cpu / cpu:.2f} |"
            )
    finally:
        connection.close()
        embedded.stop_all(args.var_dir.resolve())


if __name__ == "__main__":
    main()
