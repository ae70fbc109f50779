"""Every /api/v1/ route x every role x token scope: allowed or refused as the read policy and the
roles say, a refusal changes nothing (a 403 is audited), and another queue's case is a 404 like a
case that does not exist. A new api-* route without an entry fails
test_every_api_route_is_in_the_matrix. Also: throttling (429 problem with Retry-After), an
oversized page_size (400 naming it), and what the read resources hide from other queues."""

from __future__ import annotations

import uuid

import numpy as np
import pytest
from django.conf import settings
from django.urls import get_resolver, reverse
from rest_framework.test import APIClient

from cases.api.serializers import case_etag
from cases.api.throttling import PerTokenThrottle
from cases.fileformats import encode_rows
from cases.models import (
    AuditAction,
    AuditEvent,
    Case,
    CaseStatus,
    IngestRun,
    QuarantinedRow,
    Transaction,
    parse_case_reference,
)
from cases.s3 import ensure_bucket
from cases.similarity.services import cases_refresh_neighbour_verdict
from cases.tests.api_fixtures import assert_problem, token_client
from cases.tests.test_route_matrix import state
from cases.tests.workflow_fixtures import make_case, make_queue, make_reason_codes, make_user
from conftest import built_once_per_module, contract_row, fresh_copy, put_file

pytestmark = pytest.mark.django_db

ROLES = ("anonymous", "nobody", "analyst", "outsider", "auditor", "lead", "admin", "service")
OK, UNAUTHENTICATED, DENIED, HIDDEN = "200", "401", "403", "404"

SIGNED_IN = ROLES[1:]
EVERYONE = dict.fromkeys(ROLES, OK)
ANY_TOKEN = {"anonymous": UNAUTHENTICATED, **dict.fromkeys(SIGNED_IN, OK)}
# Reading a case: the pages' policy (an outsider's and a role-less user's view has no such case).
CASE_READERS = {**ANY_TOKEN, "nobody": HIDDEN, "outsider": HIDDEN}
# Resources for roles that read cases (view_case): other queues' data only as counts.
READERS = {**ANY_TOKEN, "nobody": DENIED}
ACCOUNT_READERS = {**READERS, "outsider": HIDDEN}
LEADS = {**dict.fromkeys(SIGNED_IN, DENIED), "anonymous": UNAUTHENTICATED, "lead": OK, "admin": OK}
AUDITORS = {**LEADS, "lead": DENIED, "auditor": OK}
# Changing a case: those who work its queue (or any queue); readers who work none get a 403.
CASE_WORKERS = {**CASE_READERS, "auditor": DENIED, "service": DENIED}
CASE_LEADS = {**CASE_WORKERS, "analyst": DENIED}
QUEUE_WORKERS = {**READERS, "auditor": DENIED, "service": DENIED}
# Flagged transactions from other systems: service accounts and admins (submit_flags).
SUBMITTERS = {**LEADS, "lead": DENIED, "service": OK}
# Quarantined raw rows may name any account: for those who read every case.
EVERY_CASE_READERS = {**READERS, "analyst": HIDDEN, "outsider": HIDDEN}
FLAG = {
    "transaction_id": "tx_matrix_1", "account_id": "acc_matrix", "amount": "10.00",
    "occurred_at": "2026-11-01T12:00:00+00:00", "currency": "EUR", "similarity_score": 0.9,
    "model_version": "detector-1",
}  # fmt: skip


def _case(world) -> dict:
    return {"reference": world["case"].reference}


def _tx(world) -> dict:
    return {"transaction_id": world["case"].transactions.order_by("pk").first().transaction_id}


def _upload(world) -> dict:
    from django.core.files.uploadedfile import SimpleUploadedFile

    return {"file": SimpleUploadedFile("proof.txt", b"proof", "text/plain")}


# (route name, method): (URL kwargs, expected outcome per role[, request body])
API_ROUTES = {
    ("api-schema", "get"): (None, EVERYONE),
    ("api-docs", "get"): (None, EVERYONE),
    ("api-case-list", "get"): (None, ANY_TOKEN),
    ("api-case-detail", "get"): (_case, CASE_READERS),
    ("api-case-similar-transactions", "get"): (_case, CASE_READERS),
    ("api-case-similar-cases", "get"): (_case, CASE_READERS),
    ("api-account-detail", "get"): (lambda w: {"account_id": w["case"].account_id}, ACCOUNT_READERS),
    ("api-ip-detail", "get"): (lambda w: {"ip": "81.2.69.7"}, READERS),
    ("api-queue-list", "get"): (None, READERS),
    ("api-label-exports", "get"): (None, LEADS),
    ("api-audit-events", "get"): (None, AUDITORS),
    ("api-case-attachment", "get"): (
        lambda w: {**_case(w), "attachment_id": w["attachment"].pk}, CASE_READERS,
    ),
    ("api-case-claim-next", "post"): (None, QUEUE_WORKERS),
    ("api-case-assign", "post"): (_case, CASE_WORKERS, lambda w: {"assignee_id": "me"}),
    ("api-case-transition", "post"): (_case, CASE_WORKERS, lambda w: {"to_status": "in_review"}),
    ("api-case-close", "post"): (_case, CASE_WORKERS, lambda w: {"resolution": "inconclusive", "reason_codes": ["insufficient-evidence"], "comment": "done"}),
    ("api-case-reopen", "post"): (lambda w: {"reference": w["closed"].reference}, CASE_LEADS, lambda w: {"reason": "new evidence"}),
    ("api-case-merge", "post"): (_case, CASE_LEADS, lambda w: {"target": w["sibling"].reference, "justification": "same ring"}),
    ("api-case-notes", "get"): (_case, CASE_READERS),
    ("api-case-notes", "post"): (_case, CASE_WORKERS, lambda w: {"body": "a note"}),
    ("api-case-tags", "post"): (_case, CASE_WORKERS, lambda w: {"add": ["ato"]}),
    ("api-case-attachments", "post"): (_case, CASE_WORKERS, _upload),
    ("api-transaction-decision", "post"): (_tx, CASE_WORKERS, lambda w: {"decision": "block"}),
    ("api-transaction-label", "post"): (_tx, CASE_WORKERS, lambda w: {"label": "fraud"}),
    ("api-flag-submit", "post"): (None, SUBMITTERS, lambda w: [FLAG]),
    ("api-ingest-run-list", "get"): (None, READERS),
    # The ingest trigger: an object waits under the prefix, so an allowed POST starts a run.
    ("api-ingest-run-list", "post"): (None, SUBMITTERS, lambda w: {"bucket": w["inbox"], "prefix": "flagged/"}),
    ("api-ingest-run-detail", "get"): (lambda w: {"run_id": w["run"].pk}, READERS),
    ("api-ingest-run-quarantined", "get"): (lambda w: {"run_id": w["run"].pk}, EVERY_CASE_READERS),
}  # fmt: skip
HTTP_METHODS = ("get", "post", "put", "patch", "delete")


def api_routes() -> set[tuple[str, str]]:
    """Every (name, method) the API answers: each api-* route with each method its view has."""
    routes = set()

    def walk(patterns):
        for pattern in patterns:
            if hasattr(pattern, "url_patterns"):
                walk(pattern.url_patterns)
            elif pattern.name and pattern.name.startswith("api-"):
                view = pattern.callback.cls
                routes.update((pattern.name, m) for m in HTTP_METHODS if hasattr(view, m))

    walk(get_resolver().url_patterns)
    return routes


def test_every_api_route_and_method_is_in_the_matrix():
    assert api_routes() == set(API_ROUTES)


def unit(axis: int, towards: int | None = None, by: float = 0.0) -> np.ndarray:
    vector = np.zeros(settings.FRAUDCASE_EMBEDDING_DIM, dtype=np.float32)
    vector[axis] = 1.0
    if towards is not None:
        vector[towards] = by
    return vector


@pytest.fixture(scope="module")
def inbox(s3) -> str:
    """A bucket with one flagged file under flagged/, for the ingest trigger (S3 is not rolled
    back with each test's database, and need not be: the run is registered in the database)."""
    name = f"test-matrix-{uuid.uuid4().hex[:12]}"
    ensure_bucket(s3, name)
    put_file(s3, name, "flagged/one.jsonl", encode_rows([contract_row(1)], "jsonl"))
    return name


@pytest.fixture(scope="module")
def built_world(django_db_setup, django_db_blocker, inbox):
    yield from built_once_per_module(lambda: build_world(inbox), django_db_blocker)


@pytest.fixture
def world(built_world, db):
    """The same rows for every test, each test's changes rolled back (conftest), and an empty
    cache: the throttles' counts, so every test starts with its full allowance."""
    return fresh_copy(built_world)


def build_world(inbox: str) -> dict:
    analyst, outsider = make_user("ana", "analyst"), make_user("olga", "analyst")
    general, high_risk = make_queue("General", analyst), make_queue("High risk", outsider)
    case = make_case(general, transactions=2)
    theirs = make_case(high_risk, transactions=1)
    Transaction.objects.filter(case__in=[case, theirs]).update(source_ip="81.2.69.7")
    # Embeddings: the analyst's case is nearest to the other queue's case.
    Transaction.objects.filter(case=case).update(embedding=unit(0))
    Transaction.objects.filter(case=theirs).update(embedding=unit(0, 1, 0.1), label="fraud")
    cases_refresh_neighbour_verdict(case_ids=[case.pk, theirs.pk])
    admin = make_user("adam", "admin")
    make_reason_codes()
    from cases.workflow import services

    services.case_attach_file(
        actor=analyst, case_id=case.pk, filename="id.txt", content=b"id", content_type="text/plain"
    )
    return {
        "analyst": analyst,
        "outsider": outsider,
        "nobody": make_user("nobody"),
        "auditor": make_user("audrey", "auditor"),
        "lead": make_user("lea", "lead"),
        "admin": admin,
        "service": make_user("sync-bot", "service"),
        "case": Case.objects.get(pk=case.pk),
        "theirs": Case.objects.get(pk=theirs.pk),
        "attachment": case.attachments.get(),
        "closed": make_case(general, status=CaseStatus.CLOSED, resolution="inconclusive"),
        "sibling": make_case(general),
        "run": IngestRun.objects.create(bucket="b", key="flagged/x.csv", etag="e"),
        "inbox": inbox,
    }


def client_for(role: str, world, scope: str = "read") -> APIClient:
    if role == "anonymous":
        return APIClient()
    actor = world["admin"] if role == "service" else None
    return token_client(world[role], scope=scope, actor=actor)


def scopes_for(method: str) -> tuple[str, ...]:
    """A read-only token may only read: write methods are tried with both scopes."""
    return ("read",) if method in ("get", "head", "options") else ("read", "write")


MATRIX = [
    (name, method, role, scope)
    for name, method in API_ROUTES
    for role in ROLES
    for scope in scopes_for(method)
]


def api_state() -> tuple:
    """state() and what the intake routes could add."""
    return state(), IngestRun.objects.count(), QuarantinedRow.objects.count()


@pytest.mark.parametrize(
    ("name", "method", "role", "scope"),
    MATRIX,
    ids=[f"{n}-{m}-{r}-{s}" for n, m, r, s in MATRIX],
)
def test_api_route_for_role(world, name, method, role, scope):
    kwargs, expected_by_role, *body = API_ROUTES[name, method]
    expected = expected_by_role[role]
    if scope == "read" and method not in ("get", "head", "options") and role != "anonymous":
        expected = DENIED  # a read-only token changes nothing, whatever case it names
    url = reverse(name, kwargs=kwargs(world) if kwargs else None)
    client = client_for(role, world, scope)
    before = api_state()
    denials_before = AuditEvent.objects.filter(action=AuditAction.PERMISSION_DENIED).count()

    data = body[0](world) if body else None
    # Changes name the case's current version (If-Match), so only permission can refuse them.
    reference = (kwargs(world) if kwargs else {}).get("reference")
    case = Case.objects.get(pk=parse_case_reference(reference)) if reference else world["case"]
    response = getattr(client, method)(
        url,
        data,
        format="multipart" if data and "file" in data else "json",
        HTTP_IF_MATCH=case_etag(case),
    )

    outcome = (
        OK if expected == OK and 200 <= response.status_code < 300 else str(response.status_code)
    )
    assert outcome == expected, (response.status_code, response.content[:600])
    if expected != OK:
        assert api_state() == before, (
            f"a refused {method.upper()} {name} by {role} changed something"
        )
        code = {"401": "not_authenticated", "403": "permission_denied", "404": "not_found"}
        assert_problem(response, int(expected), code[expected])
    if expected == HIDDEN:
        missing = getattr(client, method)(
            url.replace(case.reference, "FC-999999"),
            body[0](world) if body else None,
            format="multipart" if data and "file" in data else "json",
        )
        assert response.json()["detail"] == missing.json()["detail"]
        assert world["case"].account_id not in response.content.decode()
    if expected == DENIED:
        denials = AuditEvent.objects.filter(action=AuditAction.PERMISSION_DENIED)
        assert denials.count() == denials_before + 1, "a 403 is audited"


def test_a_low_rate_gives_a_429_problem_with_retry_after(world, monkeypatch):
    monkeypatch.setattr(
        PerTokenThrottle, "THROTTLE_RATES", {**PerTokenThrottle.THROTTLE_RATES, "token": "2/minute"}
    )
    client = token_client(world["analyst"], scope="read")

    answers = [client.get("/api/v1/cases/") for _ in range(3)]

    assert [answer.status_code for answer in answers] == [200, 200, 429]
    body = assert_problem(answers[2], 429, "throttled")
    assert 0 < int(answers[2]["Retry-After"]) <= 60
    assert body["retry_after_seconds"] > 0


@pytest.mark.parametrize("path", ["/api/v1/cases/", "/api/v1/audit-events/"])
def test_a_page_size_over_the_maximum_is_refused_naming_it(world, path):
    client = token_client(world["admin"], scope="read")

    body = assert_problem(client.get(path, {"page_size": 501}), 400, "invalid_input")

    assert [error["field"] for error in body["errors"]] == ["page_size"]
    assert client.get(path, {"page_size": 500}).status_code == 200


def test_an_ip_shows_other_queues_uses_only_as_counts(world):
    client = token_client(world["analyst"], scope="read")

    usage = client.get("/api/v1/ips/81.2.69.7/").json()

    assert usage["cases"] == [world["case"].reference]
    assert usage["hidden"] == {"cases": 1, "accounts": 1, "transactions": 1, "curation_records": 0}
    assert world["theirs"].account_id not in str(usage)
    assert client.get("/api/v1/ips/not-an-ip/").status_code == 404


def test_similar_neighbours_in_other_queues_are_redacted(world):
    analyst = token_client(world["analyst"], scope="read")
    lead = token_client(world["lead"], scope="read")
    path = f"/api/v1/cases/{world['case'].reference}/"

    hidden_tx = analyst.get(path + "similar-transactions/").json()
    hidden_case = analyst.get(path + "similar-cases/").json()
    shown_case = lead.get(path + "similar-cases/").json()

    assert hidden_tx["hidden_count"] == 1
    neighbour = hidden_tx["neighbours"][0]
    assert (neighbour["hidden"], neighbour["label"], neighbour["case_reference"]) == (
        True, "fraud", "",
    )  # fmt: skip
    assert neighbour["account_id"] == "" and neighbour["similarity"] > 0.99
    assert hidden_case["hidden_count"] == 1 and hidden_case["cases"][0]["reference"] == ""
    assert world["theirs"].reference not in str(hidden_case) + str(hidden_tx)
    assert shown_case["cases"][0]["reference"] == world["theirs"].reference


def test_an_account_lists_only_readable_cases_and_counts_the_rest(world):
    mixed = make_case(
        world["theirs"].queue,
        account_id=world["case"].account_id,
        transactions=3,
        status=CaseStatus.CLOSED,
    )
    client = token_client(world["analyst"], scope="read")

    account = client.get(f"/api/v1/accounts/{world['case'].account_id}/").json()

    assert [case["reference"] for case in account["cases"]] == [world["case"].reference]
    assert (account["transaction_count"], account["hidden_case_count"]) == (2, 1)
    assert mixed.reference not in str(account)


def test_an_account_whose_id_holds_a_slash_is_found(world):
    make_case(world["case"].queue, account_id="bank/7/acc", transactions=1)
    client = token_client(world["analyst"], scope="read")

    response = client.get("/api/v1/accounts/bank/7/acc/")

    assert response.status_code == 200
    assert (response.json()["account_id"], response.json()["transaction_count"]) == (
        "bank/7/acc",
        1,
    )


def test_an_unknown_account_id_with_a_line_break_is_the_apis_own_404(world):
    client = token_client(world["analyst"], scope="read")

    response = client.get("/api/v1/accounts/a%0Ab/")

    assert response.status_code == 404
    assert response["Content-Type"].startswith("application/problem+json")


def test_queues_are_an_analysts_own_and_all_for_auditors(world):
    mine = token_client(world["analyst"], scope="read").get("/api/v1/queues/").json()
    every = token_client(world["auditor"], scope="read").get("/api/v1/queues/").json()

    assert [(q["name"], q["member_count"]) for q in mine] == [("General", 1)]
    assert [q["name"] for q in every] == ["General", "High risk"]


def test_audit_events_page_newest_first_and_filter(world):
    client = token_client(world["auditor"], scope="read")
    created = AuditEvent.objects.filter(action=AuditAction.API_TOKEN_CREATED)

    first = client.get("/api/v1/audit-events/", {"page_size": 1}).json()
    second = client.get(first["next"]).json()
    filtered = client.get(
        "/api/v1/audit-events/", {"action": AuditAction.API_TOKEN_CREATED, "actor": "audrey"}
    ).json()
    bad = client.get(
        "/api/v1/audit-events/", {"since": "2026-02-01T00:00Z", "until": "2026-01-01T00:00Z"}
    )

    assert first["results"][0]["id"] == AuditEvent.objects.order_by("-id").first().pk
    assert second["results"][0]["id"] < first["results"][0]["id"]
    assert [event["id"] for event in filtered["results"]] == [
        created.filter(actor_name="audrey").get().pk
    ]
    assert [e["field"] for e in assert_problem(bad, 400, "invalid_input")["errors"]] == ["since"]


def test_label_exports_show_the_backlog(world):
    answer = token_client(world["lead"], scope="read").get("/api/v1/label-exports/").json()

    assert answer["backlog"]["pending"] == 0 and answer["recent_batches"] == []
    assert set(answer["backlog"]) == {
        "pending", "oldest_pending_at", "held", "quarantined", "unfinished_batches",
    }  # fmt: skip


def test_a_closed_case_is_still_readable_by_its_queue(world):
    Case.objects.filter(pk=world["case"].pk).update(status=CaseStatus.CLOSED)
    client = token_client(world["analyst"], scope="read")

    assert client.get(f"/api/v1/cases/{world['case'].reference}/similar-cases/").status_code == 200


POSTS = [(name, method) for name, method in API_ROUTES if method == "post"]


@pytest.mark.parametrize(("name", "method"), POSTS, ids=[name for name, _ in POSTS])
def test_every_post_retried_with_its_idempotency_key_acts_once(world, name, method):
    kwargs, expected_by_role, *body = API_ROUTES[name, method]
    assert expected_by_role["admin"] == OK  # an admin may make every change
    url = reverse(name, kwargs=kwargs(world) if kwargs else None)
    reference = (kwargs(world) if kwargs else {}).get("reference")
    case = Case.objects.get(pk=parse_case_reference(reference)) if reference else world["case"]
    client = client_for("admin", world, "write")

    def send():
        data = body[0](world) if body else None
        return client.post(
            url, data, format="multipart" if data and "file" in data else "json",
            HTTP_IF_MATCH=case_etag(case), HTTP_IDEMPOTENCY_KEY=f"retry-{name}",
        )  # fmt: skip

    first = send()
    after_first = api_state()
    retry = send()

    assert 200 <= first.status_code < 300, first.content[:500]
    assert retry.status_code == first.status_code
    assert (retry.json() if retry.content else None) == (first.json() if first.content else None)
    assert retry["Idempotent-Replayed"] == "true"
    assert api_state() == after_first, f"the retried POST {name} acted again"
