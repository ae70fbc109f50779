"""Shadow scores through the ingest pipeline: real S3 server, real Postgres."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection, transaction

from cases.fileformats import encode_rows
from cases.ingest import services as ingest_services
from cases.ingest.readers import SourceRecord
from cases.ingest.shadow import shadow_commit_chunk
from cases.models import IngestRun, QuarantinedRow, ShadowScore, Transaction
from cases.shadow.selectors import shadow_model_versions, shadow_scores_sql, shadow_scores_stamp
from conftest import contract_row, put_file, with_overrides

pytestmark = pytest.mark.django_db

CHAMPION = "detector-2026.11.2"  # contract_row's model version
CANDIDATE = "detector-2026.12.0-rc1"


def shadow_row(index: int = 0, **overrides) -> dict:
    row = {
        "transaction_id": f"tx_{index:08d}",
        "model_version": CANDIDATE,
        "similarity_score": round(0.3 + (index % 60) / 100, 4),
        "outcome": ("approve", "investigate", "block")[index % 3],
        "scored_at": (datetime(2026, 11, 1, tzinfo=UTC) + timedelta(minutes=index)).isoformat(),
    }
    return with_overrides(row, overrides)


def scan_and_ingest(bucket: str) -> list[IngestRun]:
    run_ids = ingest_services.inbox_scan(bucket=bucket)
    return [ingest_services.ingest_run_execute(run_id=run_id) for run_id in run_ids]


def books(run: IngestRun) -> tuple[int, int, int, int]:
    assert run.rows_read == run.rows_loaded + run.rows_duplicate + run.rows_quarantined
    return run.rows_read, run.rows_loaded, run.rows_duplicate, run.rows_quarantined


def joined(model_version: str) -> dict[str, tuple[float, str]]:
    """The shadow scores the read side sees, by transaction id text."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT t.transaction_id, s.similarity_score, s.outcome FROM {shadow_scores_sql()} s "
            "JOIN cases_transaction t ON t.id = s.transaction_pk",
            {"shadow_model": model_version},
        )
        return {tx_id: (score, outcome) for tx_id, score, outcome in cursor.fetchall()}


@pytest.mark.parametrize("fmt", ["csv", "csv.gz", "jsonl", "jsonl.gz", "parquet"])
def test_shadow_files_load_in_every_format_with_their_values(s3, bucket, fmt):
    rows = [shadow_row(i) for i in range(12)]
    rows[3]["outcome"] = None
    rows[4]["scored_at"] = None
    put_file(s3, bucket, f"shadow/2026-11-01/scores.{fmt}", encode_rows(rows, fmt))

    [run] = scan_and_ingest(bucket)

    assert run.status == IngestRun.Status.SUCCEEDED, run.error
    assert run.kind == IngestRun.Kind.SHADOW
    assert books(run) == (12, 12, 0, 0)
    assert Transaction.objects.count() == 0  # shadow scores never create transactions
    score = ShadowScore.objects.get(transaction_id="tx_00000002")
    assert (score.model_version, score.similarity_score, score.outcome) == (
        CANDIDATE, 0.32, "block",
    )  # fmt: skip
    assert score.scored_at == datetime(2026, 11, 1, 0, 2, tzinfo=UTC)
    assert (score.ingest_run_id, score.source_row) == (run.pk, 4 if fmt.startswith("csv") else 3)
    assert ShadowScore.objects.get(transaction_id="tx_00000003").outcome == ""
    assert ShadowScore.objects.get(transaction_id="tx_00000004").scored_at is None
    assert shadow_model_versions() == [CANDIDATE]


def test_each_kind_of_bad_row_is_quarantined_with_its_reason(s3, bucket):
    # The champion's own transaction is in: a "shadow" score of its own version is refused.
    put_file(s3, bucket, "flagged/part.csv", encode_rows([contract_row(9)], "csv"))
    scan_and_ingest(bucket)
    rows = [
        shadow_row(0),
        shadow_row(1, transaction_id=None),
        shadow_row(2, model_version="  "),
        shadow_row(3, similarity_score=1.5),
        shadow_row(4, similarity_score="high"),
        shadow_row(5, similarity_score=None),
        shadow_row(6, outcome="maybe"),
        shadow_row(7, scored_at="2026-11-01T10:00:00"),
        shadow_row(8, scored_at="yesterday", similarity_score=-0.1),
        shadow_row(9, model_version=CHAMPION),
        shadow_row(10, model_version="m" * 65),
        shadow_row(11),
    ]
    put_file(s3, bucket, "shadow/bad.jsonl", encode_rows(rows, "jsonl"))

    [run] = scan_and_ingest(bucket)

    assert run.status == IngestRun.Status.SUCCEEDED, run.error
    assert books(run) == (12, 2, 0, 10)
    reasons = {
        row.row_number: row.reasons
        for row in QuarantinedRow.objects.filter(ingest_run=run).order_by("row_number")
    }
    assert reasons == {
        2: ["transaction_id is required"],
        3: ["model_version is required"],
        4: ["similarity_score must be between 0 and 1, got 1.5"],
        5: ["similarity_score is not a number: 'high'"],
        6: ["similarity_score is required"],
        7: ["outcome must be one of approve, investigate, block, got 'maybe'"],
        8: [
            "scored_at has no UTC offset: '2026-11-01T10:00:00' "
            "(write it like 2026-11-28T14:03:00+00:00)"
        ],
        9: [
            "similarity_score must be between 0 and 1, got -0.1",
            "scored_at is not an ISO 8601 date-time: 'yesterday'",
        ],
        10: [
            f"model_version '{CHAMPION}' is the transaction's own model version (the "
            "champion): a shadow score must come from another model"
        ],
        11: ["model_version is longer than 64 characters"],
    }
    kept = QuarantinedRow.objects.get(ingest_run=run, row_number=10)
    assert kept.transaction_id == "tx_00000009" and CHAMPION in kept.raw_text
    assert sorted(ShadowScore.objects.values_list("transaction_id", flat=True)) == [
        "tx_00000000",
        "tx_00000011",
    ]


def test_a_csv_without_the_model_version_column_fails_the_run_with_one_message(s3, bucket):
    put_file(s3, bucket, "shadow/no-model.csv", b"transaction_id,similarity_score\ntx_1,0.5\n")

    [run] = scan_and_ingest(bucket)

    assert run.status == IngestRun.Status.FAILED
    assert run.error == "missing required column(s): model_version; nothing was loaded"
    assert ShadowScore.objects.count() == 0


def test_nothing_is_loaded_twice_rerun_redelivered_or_repeated(s3, bucket):
    rows = [shadow_row(i) for i in range(10)]
    put_file(s3, bucket, "shadow/day1/scores.csv.gz", encode_rows(rows, "csv.gz"))
    [first] = scan_and_ingest(bucket)
    assert books(first) == (10, 10, 0, 0)
    stamp = shadow_scores_stamp()

    # the same run again, and the same scan: nothing more
    again = ingest_services.ingest_run_execute(run_id=first.pk)
    assert books(again) == (10, 10, 0, 0)
    assert ingest_services.inbox_scan(bucket=bucket) == []

    # redelivered under another key (a new score for a known key stays a duplicate), one row
    # repeated in the file, and the same transaction scored by a second candidate (new key)
    redelivered = [
        *rows[:4],
        shadow_row(0, similarity_score=0.99),
        shadow_row(42),
        shadow_row(42),
        shadow_row(0, model_version="detector-2026.12.1-rc1"),
    ]
    put_file(s3, bucket, "shadow/day2/again.parquet", encode_rows(redelivered, "parquet"))
    [second] = scan_and_ingest(bucket)

    assert second.status == IngestRun.Status.SUCCEEDED, second.error
    assert books(second) == (8, 2, 6, 0)
    assert ShadowScore.objects.count() == 12
    first_score = ShadowScore.objects.get(transaction_id="tx_00000000", model_version=CANDIDATE)
    assert first_score.similarity_score == 0.3  # the first delivery's score is kept
    assert shadow_model_versions() == [CANDIDATE, "detector-2026.12.1-rc1"]
    assert shadow_scores_stamp() > stamp


def test_an_interrupted_shadow_run_resumes_after_its_checkpoint(s3, bucket, settings):
    settings.FRAUDCASE_INGEST_CHUNK_ROWS = 4
    rows = [shadow_row(i) for i in range(10)]
    put_file(s3, bucket, "shadow/resume.jsonl", encode_rows(rows, "jsonl"))
    [run_id] = ingest_services.inbox_scan(bucket=bucket)
    run = IngestRun.objects.get(pk=run_id)
    records = [
        SourceRecord(row_number=i + 1, values=dict(r), raw=str(r)) for i, r in enumerate(rows)
    ]
    shadow_commit_chunk(run, records[:4], bytes_read=100)  # as if its worker died after it
    IngestRun.objects.filter(pk=run_id).update(status=IngestRun.Status.RUNNING)

    run = ingest_services.ingest_run_execute(run_id=run_id)

    assert run.status == IngestRun.Status.SUCCEEDED
    assert books(run) == (10, 10, 0, 0)
    assert ShadowScore.objects.count() == 10


def test_a_shadow_score_before_its_transaction_is_kept_and_joined_when_it_arrives(s3, bucket):
    put_file(
        s3, bucket, "shadow/early.csv",
        encode_rows([shadow_row(1), shadow_row(2), shadow_row(3, model_version=CHAMPION)], "csv"),
    )  # fmt: skip
    [shadow_run] = scan_and_ingest(bucket)
    assert books(shadow_run) == (3, 3, 0, 0)  # no transaction yet: nothing to compare with
    assert joined(CANDIDATE) == {}

    put_file(s3, bucket, "flagged/late.csv", encode_rows([contract_row(i) for i in (1, 3)], "csv"))
    [flagged_run] = scan_and_ingest(bucket)
    assert books(flagged_run) == (2, 2, 0, 0)

    assert joined(CANDIDATE) == {"tx_00000001": (0.31, "investigate")}
    # tx 3's "shadow" score turned out to be its own model's: left out of every comparison
    assert joined(CHAMPION) == {}
    assert ShadowScore.objects.filter(transaction_id="tx_00000002").exists()  # still waiting


def test_the_inbox_scan_takes_all_three_prefixes_and_each_run_knows_its_kind(s3, bucket):
    put_file(
        s3, bucket, "flagged/part.csv", encode_rows([contract_row(i) for i in range(3)], "csv")
    )
    put_file(s3, bucket, "curation/ips.jsonl", encode_rows([{"source_ip": "10.0.0.1"}], "jsonl"))
    put_file(s3, bucket, "shadow/s.jsonl", encode_rows([shadow_row(i) for i in range(4)], "jsonl"))
    put_file(s3, bucket, "shadowy/s.jsonl", encode_rows([shadow_row(9)], "jsonl"))

    runs = scan_and_ingest(bucket)

    assert {run.key: (run.kind, run.status, run.rows_loaded) for run in runs} == {
        "flagged/part.csv": ("flagged", "succeeded", 3),
        "curation/ips.jsonl": ("curation", "succeeded", 1),
        "shadow/s.jsonl": ("shadow", "succeeded", 4),
    }
    assert ShadowScore.objects.count() == 4


def test_the_demo_bundle_shadow_file_loads_whole_before_its_flagged_files(s3, bucket):
    from cases.demo.bundle import demo_files
    from cases.demo.generator import (
        MODEL_VERSION,
        generate_flagged_transactions,
        generate_shadow_scores,
    )

    flagged = generate_flagged_transactions(
        seed=5, accounts=60, merchants=40, transactions=400, end=datetime(2026, 11, 28, tzinfo=UTC)
    )
    shadow = generate_shadow_scores(flagged, seed=5, champion=MODEL_VERSION)
    for key, body in demo_files(flagged, [], prefix_date="2026-11-28", shadow=shadow):
        if key.startswith("shadow/"):
            put_file(s3, bucket, key, body)

    [run] = scan_and_ingest(bucket)

    assert run.key == "shadow/2026-11-28/scores-0001.jsonl.gz"
    assert run.status == IngestRun.Status.SUCCEEDED, run.error
    assert books(run) == (len(shadow), len(shadow), 0, 0)
    stored = ShadowScore.objects.get(transaction_id=shadow[0]["transaction_id"])
    assert (stored.model_version, stored.similarity_score) == (
        shadow[0]["model_version"], shadow[0]["similarity_score"],
    )  # fmt: skip


def linked() -> dict[str, int | None]:
    """Each stored score's link, by transaction id text (model version CANDIDATE or CHAMPION)."""
    return dict(ShadowScore.objects.values_list("transaction_id", "transaction_pk"))


def pks(*indexes: int) -> dict[str, int]:
    return {
        f"tx_{i:08d}": Transaction.objects.get(transaction_id=f"tx_{i:08d}").pk for i in indexes
    }


def test_a_shadow_score_whose_transaction_is_in_is_linked_to_it_at_ingest(s3, bucket):
    put_file(s3, bucket, "flagged/first.csv", encode_rows([contract_row(i) for i in (1, 2)], "csv"))
    scan_and_ingest(bucket)
    put_file(
        s3, bucket, "shadow/after.csv",
        encode_rows([shadow_row(1), shadow_row(2), shadow_row(5)], "csv"),
    )  # fmt: skip

    [shadow_run] = scan_and_ingest(bucket)

    assert books(shadow_run) == (3, 3, 0, 0)
    assert linked() == {**pks(1, 2), "tx_00000005": None}  # 5 has not arrived: waits


def test_the_link_task_links_the_scores_that_came_first_once_and_only_those(s3, bucket):
    from cases.shadow.services import shadow_scores_link
    from cases.shadow.tasks import link_shadow_scores

    put_file(
        s3, bucket, "shadow/early.csv",
        encode_rows([shadow_row(1), shadow_row(2), shadow_row(3, model_version=CHAMPION),
                     shadow_row(4)], "csv"),
    )  # fmt: skip
    scan_and_ingest(bucket)
    put_file(
        s3, bucket, "flagged/late.csv", encode_rows([contract_row(i) for i in (1, 3, 4)], "csv")
    )
    scan_and_ingest(bucket)  # the flagged ingest path links nothing itself
    assert set(linked().values()) == {None}
    before = joined(CANDIDATE)

    # A run that fails after its batches (rolled back) leaves nothing half done: run again.
    with pytest.raises(RuntimeError), transaction.atomic():
        assert shadow_scores_link(batch_size=1) == 2
        raise RuntimeError("worker lost")
    assert set(linked().values()) == {None}

    assert link_shadow_scores.apply().get() == 2
    # tx 3's score is its own model's (never compared): it stays unlinked, as does tx 2's
    assert linked() == {**pks(1, 4), "tx_00000002": None, "tx_00000003": None}
    assert joined(CANDIDATE) == before == {
        "tx_00000001": (0.31, "investigate"), "tx_00000004": (0.34, "investigate"),
    }  # fmt: skip
    assert link_shadow_scores.apply().get() == 0  # idempotent
    assert linked() == {**pks(1, 4), "tx_00000002": None, "tx_00000003": None}


def test_beat_links_waiting_scores():
    from django.conf import settings

    from cases.shadow.tasks import link_shadow_scores

    entry = settings.CELERY_BEAT_SCHEDULE["link-shadow-scores"]
    assert entry["task"] == link_shadow_scores.name == "cases.shadow.tasks.link_shadow_scores"
    assert entry["schedule"] > 0
