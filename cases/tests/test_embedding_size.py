"""The embedding size: a check against the database column, and files made for another model."""

import pytest
from django.core import checks

from cases.checks import check_embedding_dimension, embedding_column_dimension
from cases.fileformats import encode_rows
from cases.ingest import services as ingest_services
from cases.models import IngestRun, QuarantinedRow, Transaction
from conftest import contract_row, put_file, unit_vector

pytestmark = pytest.mark.django_db


def test_the_check_is_quiet_when_the_setting_matches_the_column(settings):
    assert embedding_column_dimension("cases_transaction", "embedding") == (
        settings.FRAUDCASE_EMBEDDING_DIM
    )
    assert check_embedding_dimension(databases=["default"]) == []


def test_the_check_names_both_sizes_when_the_setting_differs(settings):
    column = settings.FRAUDCASE_EMBEDDING_DIM
    settings.FRAUDCASE_EMBEDDING_DIM = 29

    [problem] = check_embedding_dimension(databases=["default"])

    assert problem.level == checks.ERROR
    assert problem.id == "fraudcase.E001"
    assert "FRAUDCASE_EMBEDDING_DIM is 29 but the database column" in problem.msg
    assert f"holds vectors of {column}" in problem.msg
    assert f"FRAUDCASE_EMBEDDING_DIM={column}" in problem.hint
    # Registered as a database check: `manage.py check --database default` and migrate run it.
    assert problem in checks.run_checks(databases=["default"])
    assert problem not in checks.run_checks()


def test_a_missing_table_is_no_error():
    assert embedding_column_dimension("no_such_table", "embedding") is None


def _ingest(s3, bucket, rows, key="flagged/file.jsonl") -> IngestRun:
    put_file(s3, bucket, key, encode_rows(rows, "jsonl"))
    [run_id] = ingest_services.inbox_scan(bucket=bucket)
    return ingest_services.ingest_run_execute(run_id=run_id)


def test_a_file_whose_every_embedding_has_the_wrong_size_fails_as_a_whole(s3, bucket):
    rows = [contract_row(i, embedding=unit_vector(i, dim=29)) for i in range(30)]

    run = _ingest(s3, bucket, rows)

    assert run.status == IngestRun.Status.FAILED
    assert run.error.startswith("every row's embedding has 29 values but FRAUDCASE_EMBEDDING_DIM")
    assert "nothing was loaded" in run.error
    assert (run.rows_read, run.rows_loaded, run.rows_quarantined) == (0, 0, 0)
    assert Transaction.objects.count() == 0
    assert QuarantinedRow.objects.count() == 0


def test_a_few_wrong_sizes_among_good_rows_are_quarantined_as_before(s3, bucket):
    rows = [contract_row(i) for i in range(10)]
    rows[3]["embedding"] = unit_vector(3, dim=29)

    run = _ingest(s3, bucket, rows)

    assert run.status == IngestRun.Status.SUCCEEDED
    assert (run.rows_loaded, run.rows_quarantined) == (9, 1)


def test_rows_wrong_for_other_reasons_too_are_quarantined_not_a_file_failure(s3, bucket):
    rows = [contract_row(i, embedding=unit_vector(i, dim=29)) for i in range(5)]
    rows[0]["embedding"] = unit_vector(0)
    rows[0]["amount"] = "-1"

    run = _ingest(s3, bucket, rows)

    assert run.status == IngestRun.Status.SUCCEEDED
    assert (run.rows_loaded, run.rows_quarantined) == (0, 5)
