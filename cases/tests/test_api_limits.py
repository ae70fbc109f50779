"""The API's limits beyond the page size (test_api_matrix.py): a body over the request-size cap
is a 413 problem on every POST, refused on its Content-Length before it is read, with nothing
stored; the per-address throttle counts every token from one address together."""

from __future__ import annotations

import json

import pytest
from django.core.cache import cache

from cases.api.throttling import PerAddressThrottle
from cases.models import Case, IngestRun, Note
from cases.tests.api_fixtures import assert_problem, token_client
from cases.tests.workflow_fixtures import make_case, make_queue, make_reason_codes, make_user

pytestmark = pytest.mark.django_db

LIMIT = 2000


@pytest.fixture
def world():
    cache.clear()  # the throttles' counts
    analyst = make_user("ana", "analyst")
    make_reason_codes()
    return {
        "analyst": analyst,
        "service": make_user("sync-bot", "service"),
        "admin": make_user("adam", "admin"),
        "case": make_case(make_queue("General", analyst, is_default=True), transactions=1),
    }


# name: (who, path under /api/v1/ (case: the world's case), body padded past the limit)
OVERSIZED = {
    "note": ("analyst", "cases/{case}/notes/", {"body": "x" * LIMIT}),
    "tags": ("analyst", "cases/{case}/tags/", {"add": ["ato"] * (LIMIT // 5)}),
    "close": ("analyst", "cases/{case}/close/", {"resolution": "inconclusive",
                                                "reason_codes": ["insufficient-evidence"],
                                                "comment": "x" * LIMIT}),
    "decision": ("analyst", "transactions/{tx}/decision/", {"decision": "block", "pad": "x" * LIMIT}),
    "claim-next": ("analyst", "cases/claim-next/", {"pad": "x" * LIMIT}),
    "ingest trigger": ("service", "ingest-runs/", {"prefix": "flagged/" + "x" * LIMIT}),
}  # fmt: skip


@pytest.mark.parametrize("with_key", [False, True], ids=["plain", "idempotency-key"])
@pytest.mark.parametrize("name", list(OVERSIZED))
def test_a_body_over_the_cap_is_a_413_problem_and_changes_nothing(world, settings, name, with_key):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = LIMIT
    who, path, body = OVERSIZED[name]
    case = world["case"]
    client = token_client(world[who], actor=world["admin"])
    etag = client.get(f"/api/v1/cases/{case.reference}/")["ETag"]
    url = "/api/v1/" + path.format(case=case.reference, tx=case.transactions.get().transaction_id)
    headers = {"HTTP_IF_MATCH": etag}
    if with_key:
        headers["HTTP_IDEMPOTENCY_KEY"] = f"big-{name}"

    response = client.generic(
        "POST", url, json.dumps(body), content_type="application/json", **headers
    )

    detail = assert_problem(response, 413, "body_too_large")["detail"]
    assert f"at most {LIMIT} bytes" in detail
    after = Case.objects.get(pk=case.pk)
    assert (after.version, after.status, after.assignee_id) == (case.version, "open", None)
    assert Note.objects.count() == after.tags.count() == IngestRun.objects.count() == 0


def test_the_address_throttle_counts_every_token_from_one_address(world, monkeypatch):
    monkeypatch.setattr(
        PerAddressThrottle,
        "THROTTLE_RATES",
        {**PerAddressThrottle.THROTTLE_RATES, "address": "3/minute"},
    )
    first, second = token_client(world["analyst"]), token_client(world["analyst"])
    third = token_client(world["service"], actor=world["admin"])

    answers = [
        client.get("/api/v1/cases/", REMOTE_ADDR="198.51.100.7")
        for client in (first, second, third, first)
    ]
    elsewhere = second.get("/api/v1/cases/", REMOTE_ADDR="198.51.100.8")

    assert [answer.status_code for answer in answers] == [200, 200, 200, 429]
    body = assert_problem(answers[3], 429, "throttled")
    assert int(answers[3]["Retry-After"]) > 0 and body["retry_after_seconds"] > 0
    assert elsewhere.status_code == 200
