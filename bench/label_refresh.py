"""What a label costs to find the open cases whose neighbour verdict it may move.

    python bench/label_refresh.py [--cases 20000,100000] [--labels 1,10,100] [--repeats 5]

cases.similarity.selectors.open_cases_labels_move compares each labelled embedding with the
centroid of every open case (no index answers "nearer than that case's own k-th
neighbour"), and looks the transactions up in VerdictNeighbours' GIN index. This loads N open
cases with random 384-dim centroids and stored verdicts (kth similarity drawn like a filled
verdict's), and times the selector for a drain of L labels. Its own embedded PostgreSQL
under var/bench-label-refresh (wiped at the start, stopped at the end).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from vardir import prepare_var_dir, use_own_servers

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var" / "bench-label-refresh"
MARKER = ".fraudcase-bench-label-refresh"


def load(cases: int, dim: int) -> list[int]:
    """N open cases with a random centroid and a full stored verdict; 200 labelled
    transactions (in a case of their own) to label. Returns the transactions' ids."""
    from datetime import UTC, datetime
    from decimal import Decimal

    import numpy as np
    from django.db import connection

    from cases.models import Case, Transaction

    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE cases_case CASCADE")
        # The selector never uses the centroids' HNSW index, and filling it row by row would
        # take most of the run.
        cursor.execute("DROP INDEX IF EXISTS case_centroid_hnsw")
    Case.objects.bulk_create(
        (Case(account_id=f"acc_{n}") for n in range(cases + 1)), batch_size=5000
    )
    own_case = Case.objects.order_by("pk").first()
    rng = np.random.default_rng(20261206)
    shared = {"account_id": own_case.account_id, "amount": Decimal("10.00"), "currency": "EUR",
              "occurred_at": datetime(2026, 12, 1, tzinfo=UTC), "similarity_score": 0.5,
              "model_version": "m1", "case": own_case, "label": "fraud"}  # fmt: skip
    labelled = Transaction.objects.bulk_create(
        Transaction(transaction_id=f"tx_{n}", embedding=rng.standard_normal(dim), **shared)
        for n in range(200)
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO cases_casecentroid (case_id, embedding, embedded_transactions, updated_at)
            SELECT id, (SELECT array_agg(random() - 0.5) FROM generate_series(1, {dim})
                        WHERE id > 0)::vector, 1, now()
            FROM cases_case WHERE id <> %s
            """,
            [own_case.pk],
        )
        # A filled verdict's k-th neighbour: random directions in 384 dimensions are nearly
        # orthogonal (similarity about 0 +- 0.05), so a threshold of 0.1 to 0.2 lets a few
        # pairs through, as a label entering a verdict now and then would.
        cursor.execute(
            """
            INSERT INTO cases_verdictneighbours (case_id, transaction_ids, kth_similarity)
            SELECT id, ARRAY(SELECT (random() * 1e9)::bigint FROM generate_series(1, 10)
                             WHERE id > 0), 0.1 + random() * 0.1
            FROM cases_case WHERE id <> %s
            """,
            [own_case.pk],
        )
        cursor.execute("VACUUM ANALYZE cases_casecentroid")
        cursor.execute("VACUUM ANALYZE cases_verdictneighbours")
    return [tx.pk for tx in labelled]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", default="20000,100000")
    parser.add_argument("--labels", default="1,10,100")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    prepare_var_dir(VAR_DIR, marker=MARKER, made_by="bench/label_refresh.py")
    use_own_servers(VAR_DIR, production_like=False)
    sys.path.insert(0, str(BASE_DIR))
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    from cases.similarity.selectors import open_cases_labels_move
    from fraudcase import embedded

    try:
        call_command("migrate", verbosity=0)
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True, cwd=BASE_DIR).stdout.strip()  # fmt: skip
        print(f"commit {commit}, load average {os.getloadavg()}")
        for cases in map(int, args.cases.split(",")):
            started = time.perf_counter()
            ids = load(cases, settings.FRAUDCASE_EMBEDDING_DIM)
            print(f"{cases:,} open cases loaded in {time.perf_counter() - started:.0f} s")
            for labels in map(int, args.labels.split(",")):
                times, found = [], 0
                for repeat in range(args.repeats):
                    chosen = ids[(repeat * labels) % 100 :][:labels]
                    started = time.perf_counter()
                    found = len(open_cases_labels_move(chosen))
                    times.append((time.perf_counter() - started) * 1000)
                print(
                    f"  {labels:>4} labels: median {statistics.median(times):,.0f} ms, "
                    f"max {max(times):,.0f} ms ({found:,} cases to refresh, last run)"
                )
    finally:
        embedded.stop_all(VAR_DIR)


if __name__ == "__main__":
    main()
