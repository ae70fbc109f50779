"""The REST API's intake (POST /api/v1/flags/) and ingest runs, against the real Postgres and S3."""

from __future__ import annotations

import json

import numpy as np
import pytest

from cases.fileformats import encode_rows
from cases.ingest import services as ingest_services
from cases.models import AuditAction, AuditEvent, IngestRun, QuarantinedRow, Transaction
from cases.tests.api_fixtures import assert_problem, token_client
from cases.tests.workflow_fixtures import make_queue, make_user
from conftest import contract_row, put_file

pytestmark = pytest.mark.django_db

FLAGS = "/api/v1/flags/"
RUNS = "/api/v1/ingest-runs/"


@pytest.fixture
def world():
    analyst = make_user("ana", "analyst")
    return {
        "analyst": analyst,
        "service": make_user("flag-bot", "service"),
        "queue": make_queue("General", analyst, is_default=True),
    }


@pytest.fixture
def service_client(world):
    return token_client(world["service"], actor=make_user("root", "admin"))


def json_lines(rows: list[dict]) -> list[bytes]:
    """The rows as the JSON Lines file the inbox would get, one encoded line each."""
    return [line for line in encode_rows(rows, "jsonl").splitlines() if line.strip()]


def post_json(client, body: bytes):
    return client.generic("POST", FLAGS, body, content_type="application/json")


def books(run: IngestRun) -> tuple[int, int, int, int]:
    assert run.rows_read == run.rows_loaded + run.rows_duplicate + run.rows_quarantined
    return (run.rows_read, run.rows_loaded, run.rows_duplicate, run.rows_quarantined)


def mixed_rows(prefix: str) -> list[dict]:
    """Good and contract-breaking rows; transaction ids start with prefix."""
    rows = [
        contract_row(0),
        contract_row(1, amount="-3.00", currency="XYZ"),
        contract_row(2, embedding=[0.5] * 12),
        contract_row(3, transaction_id=..., similarity_score=1.7),
        contract_row(4, merchant="Caf\x00e", occurred_at="2026-11-01T10:00:00"),
        contract_row(5, country="XK", source_ip="fe80::1%eth0", merchant_category="54a1"),
        contract_row(6),
    ]
    for row in rows:
        if "transaction_id" in row:
            row["transaction_id"] = prefix + row["transaction_id"]
    return rows


def test_single_and_batch_intake_validate_as_the_s3_inbox_does(world, service_client, s3, bucket):
    put_file(s3, bucket, "flagged/same.jsonl", encode_rows(mixed_rows("s3_"), "jsonl"))
    [s3_run] = [
        ingest_services.ingest_run_execute(run_id=run_id)
        for run_id in ingest_services.inbox_scan(bucket=bucket)
    ]
    s3_reasons = {
        row.row_number - 1: row.reasons for row in QuarantinedRow.objects.filter(ingest_run=s3_run)
    }

    batch = post_json(service_client, b"[" + b",".join(json_lines(mixed_rows("batch_"))) + b"]")
    singles = [post_json(service_client, line) for line in json_lines(mixed_rows("one_"))]

    assert batch.status_code == 201, batch.content
    batch_rows = batch.json()["rows"]
    assert [row["index"] for row in batch_rows] == list(range(7))
    batch_reasons = {row["index"]: row["reasons"] for row in batch_rows if row["reasons"]}
    single_rows = [response.json()["rows"][0] for response in singles]
    single_reasons = {i: row["reasons"] for i, row in enumerate(single_rows) if row["reasons"]}
    assert sorted(s3_reasons) == [1, 2, 3, 4, 5]
    assert batch_reasons == s3_reasons == single_reasons
    assert [row["outcome"] for row in batch_rows] == [
        "loaded", *["quarantined"] * 5, "loaded",
    ]  # fmt: skip
    assert [r.status_code for r in singles] == [201, 200, 200, 200, 200, 200, 201]
    assert books(s3_run) == books(IngestRun.objects.get(pk=batch.json()["run_id"])) == (7, 2, 0, 5)
    # A loaded row has the very values the file gave.
    from_file, from_api = (
        Transaction.objects.get(transaction_id=f"{prefix}tx_00000006")
        for prefix in ("s3_", "batch_")
    )
    for column in ("amount", "occurred_at", "currency", "source_ip", "features", "outcome",
                   "similarity_score", "merchant_category", "account_id", "case_id"):  # fmt: skip
        assert getattr(from_file, column) == getattr(from_api, column), column
    assert np.array_equal(from_file.embedding, from_api.embedding)


def test_bad_rows_are_kept_in_quarantine_with_every_reason(world, service_client):
    body = json.dumps([
        {"transaction_id": "tx_bad", "amount": "1.234", "currency": "EUR"},
        "not a row",
    ]).encode()  # fmt: skip

    response = post_json(service_client, body)

    assert response.status_code == 200  # nothing loaded
    result = response.json()
    run = IngestRun.objects.get(pk=result["run_id"])
    assert (run.bucket, run.key.startswith("flags/"), run.kind) == ("api", True, "flagged")
    assert (run.status, run.triggered_by) == (IngestRun.Status.SUCCEEDED, "flag-bot")
    assert books(run) == (2, 0, 0, 2)
    assert result["totals"]["rows_quarantined"] == 2
    first, second = QuarantinedRow.objects.filter(ingest_run=run).order_by("row_number")
    assert (first.row_number, first.transaction_id) == (1, "tx_bad")
    assert "amount has more than 2 decimals: 1.234" in first.reasons
    assert "account_id is required" in first.reasons and len(first.reasons) >= 4
    assert first.reasons == result["rows"][0]["reasons"]
    assert (second.raw_text, second.reasons) == ('"not a row"', ["not a JSON object but a str"])
    listed = service_client.get(f"{RUNS}{run.pk}/quarantined/").json()["results"]
    assert [(row["row_number"], row["reasons"]) for row in listed] == [
        (1, first.reasons), (2, second.reasons),
    ]  # fmt: skip


def test_a_repost_counts_duplicates_and_loads_nothing_twice(world, service_client):
    rows = json_lines([contract_row(1), contract_row(2), contract_row(1, amount="999.00")])
    body = b"[" + b",".join(rows) + b"]"

    first = post_json(service_client, body)
    again = post_json(service_client, body)

    assert first.status_code == 201 and again.status_code == 200
    outcomes = [(row["outcome"], row["case_reference"]) for row in first.json()["rows"]]
    repeated = [(row["outcome"], row["case_reference"]) for row in again.json()["rows"]]
    assert [outcome for outcome, _ in outcomes] == ["loaded", "loaded", "duplicate"]
    assert [outcome for outcome, _ in repeated] == ["duplicate"] * 3
    assert [ref for _, ref in outcomes] == [ref for _, ref in repeated] and all(outcomes[0])
    assert Transaction.objects.count() == 2
    assert str(Transaction.objects.get(transaction_id="tx_00000001").amount) == "13.50"
    assert books(IngestRun.objects.get(pk=again.json()["run_id"])) == (3, 0, 3, 0)


def test_the_case_is_in_its_queue_when_the_response_returns(world, service_client):
    response = post_json(service_client, json_lines([contract_row(7)])[0])

    reference = response.json()["rows"][0]["case_reference"]
    listed = token_client(world["analyst"]).get("/api/v1/cases/").json()["results"]
    assert [(case["reference"], case["queue"]) for case in listed] == [(reference, "General")]
    assert listed[0]["transaction_count"] == 1 and listed[0]["account_id"] == "acc_00007"
    event = AuditEvent.objects.filter(action=AuditAction.INGEST_RUN_FINISHED).get()
    assert (event.actor_id, event.after["rows_loaded"]) == (world["service"].pk, 1)
    assert event.via_token == service_client.issued.token.prefix


def test_a_batch_of_1001_rows_is_refused_naming_the_limit(world, service_client):
    body = json.dumps([{"transaction_id": f"tx_{i}"} for i in range(1001)]).encode()

    response = post_json(service_client, body)

    assert "at most 1000" in assert_problem(response, 413, "batch_too_large")["detail"]
    assert IngestRun.objects.count() == QuarantinedRow.objects.count() == 0


def test_a_body_over_the_upload_limit_is_refused_unread(world, service_client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 2000
    body = b"[" + b",".join(json_lines([contract_row(1)])) + b"]"  # an embedding: ~8 KB

    response = post_json(service_client, body)

    assert "at most 2000" in assert_problem(response, 413, "body_too_large")["detail"]
    assert IngestRun.objects.count() == 0


@pytest.mark.parametrize(
    ("body", "content_type", "status", "code"),
    [
        (b'{"transaction_id": "tx_1",', "application/json", 400, "parse_error"),
        (b'"a string"', "application/json", 400, "invalid_input"),
        (b"42", "application/json", 400, "invalid_input"),
        (b"[]", "application/json", 400, "invalid_input"),
        (b"", "application/json", 400, "parse_error"),
        (
            b"transaction_id=tx_1",
            "application/x-www-form-urlencoded",
            415,
            "unsupported_media_type",
        ),
        (b"transaction_id,amount\ntx_1,3", "text/csv", 415, "unsupported_media_type"),
    ],
)
def test_malformed_bodies_are_problems_and_store_nothing(
    world, service_client, body, content_type, status, code
):
    response = service_client.generic("POST", FLAGS, body, content_type=content_type)

    assert_problem(response, status, code)
    assert IngestRun.objects.count() == Transaction.objects.count() == 0


def test_an_analyst_without_submit_flags_gets_403_and_nothing_is_stored(world):
    response = post_json(token_client(world["analyst"]), json_lines([contract_row(1)])[0])

    assert "submit_flags" in assert_problem(response, 403, "permission_denied")["detail"]
    assert IngestRun.objects.count() == Transaction.objects.count() == 0
    refusal = AuditEvent.objects.get(action=AuditAction.PERMISSION_DENIED)
    assert (refusal.actor_id, refusal.after["attempted"]) == (world["analyst"].pk, "flags_submit")


def test_a_read_only_token_gets_403(world):
    client = token_client(world["service"], scope="read", actor=make_user("root", "admin"))

    assert_problem(post_json(client, json_lines([contract_row(1)])[0]), 403, "permission_denied")
    assert_problem(client.post(RUNS, {"prefix": "flagged/"}, format="json"), 403,
                   "permission_denied")  # fmt: skip
    assert IngestRun.objects.count() == Transaction.objects.count() == 0


def test_the_trigger_registers_runs_under_a_prefix_and_they_are_pollable(
    world, service_client, s3, bucket, django_capture_on_commit_callbacks
):
    put_file(s3, bucket, "flagged/2026-12-06/a.jsonl", encode_rows([contract_row(1)], "jsonl"))
    rows = [contract_row(2), contract_row(3, currency="XYZ")]
    put_file(s3, bucket, "flagged/2026-12-06/b.csv", encode_rows(rows, "csv"))
    put_file(s3, bucket, "flagged/2026-12-07/c.jsonl", encode_rows([contract_row(4)], "jsonl"))

    with django_capture_on_commit_callbacks() as queued:
        started = service_client.post(
            RUNS, {"bucket": bucket, "prefix": "flagged/2026-12-06/"}, format="json"
        )
    again = service_client.post(RUNS, {"bucket": bucket, "prefix": "flagged/2026-12-06/"},
                                format="json")  # fmt: skip

    assert started.status_code == 201, started.content
    runs = started.json()["runs"]
    assert [run["key"] for run in runs] == [
        "flagged/2026-12-06/a.jsonl",
        "flagged/2026-12-06/b.csv",
    ]
    assert {(run["status"], run["triggered_by"]) for run in runs} == {("queued", "flag-bot")}
    assert len(queued) == 2  # one ingest task per run, sent on commit
    assert (again.status_code, again.json()["runs"]) == (200, [])
    # A worker takes them (run in-process here), the caller polls.
    for run in runs:
        ingest_services.ingest_run_execute(run_id=run["id"])
    polled = service_client.get(f"{RUNS}{runs[1]['id']}/").json()
    assert (polled["status"], polled["progress_percent"], polled["error"]) == ("succeeded", 100, "")
    assert (polled["rows_read"], polled["rows_loaded"], polled["rows_quarantined"]) == (2, 1, 1)
    quarantined = service_client.get(f"{RUNS}{runs[1]['id']}/quarantined/").json()["results"]
    assert quarantined[0]["reasons"] == ["currency is not an ISO 4217 currency code: 'XYZ'"]
    newest_first = service_client.get(RUNS).json()["results"]
    assert [run["id"] for run in newest_first] == [runs[1]["id"], runs[0]["id"]]


def test_trigger_refusals(world, service_client, bucket):
    analyst = token_client(world["analyst"])

    refused = analyst.post(RUNS, {"bucket": bucket, "prefix": "flagged/"}, format="json")
    outside = service_client.post(RUNS, {"bucket": bucket, "prefix": "secrets/"}, format="json")
    unknown = service_client.post(RUNS, {"prefix": "flagged/", "dry_run": True}, format="json")
    no_bucket = service_client.post(
        RUNS, {"bucket": "no-such-bucket-here", "prefix": "flagged/"}, format="json"
    )

    assert_problem(refused, 403, "permission_denied")
    assert "prefix must start with" in assert_problem(outside, 400, "invalid_input")["detail"]
    assert assert_problem(unknown, 400, "invalid_input")["errors"][0]["field"] == "dry_run"
    assert "NoSuchBucket" in assert_problem(no_bucket, 400, "invalid_input")["detail"]
    assert IngestRun.objects.count() == 0


def test_runs_are_read_by_case_readers_and_quarantine_only_by_those_who_see_every_case(
    world, service_client
):
    response = post_json(service_client, b'[{"transaction_id": "tx_q", "account_id": "acc_9"}]')
    run_id = response.json()["run_id"]
    analyst = token_client(world["analyst"])
    nobody = token_client(make_user("nobody"))

    assert analyst.get(f"{RUNS}{run_id}/").json()["rows_quarantined"] == 1
    assert_problem(analyst.get(f"{RUNS}{run_id}/quarantined/"), 404, "not_found")
    assert_problem(service_client.get(f"{RUNS}{run_id + 1000}/"), 404, "not_found")
    assert_problem(nobody.get(RUNS), 403, "permission_denied")
    assert_problem(nobody.get(f"{RUNS}{run_id}/"), 403, "permission_denied")


def test_a_retried_batch_with_the_same_idempotency_key_gets_the_first_answer(service_client):
    batch = b"[" + b",".join(json_lines([contract_row(1), contract_row(2)])) + b"]"

    def send(body: bytes):
        return service_client.generic(
            "POST", FLAGS, body, content_type="application/json", HTTP_IDEMPOTENCY_KEY="batch-7"
        )

    first, again = send(batch), send(batch)
    other = send(b"[" + json_lines([contract_row(3)])[0] + b"]")

    assert first.status_code == again.status_code == 201
    assert again["Idempotent-Replayed"] == "true"
    assert again.json()["run"] == first.json()["run"]  # one run, not a second of duplicates
    assert IngestRun.objects.filter(bucket="api").count() == 1
    assert_problem(other, 422, other.json()["type"].rsplit("/", 1)[-1])
