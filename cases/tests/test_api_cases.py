"""The REST API's cases: tokens, the read policy, sync pages, problem details."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from cases.accounts.tokens import api_token_create, api_token_revoke
from cases.errors import ActionNotPermitted, NotFound
from cases.models import ApiToken, AuditAction, AuditEvent, Case, Tag
from cases.tests.api_fixtures import assert_problem, token_client
from cases.tests.workflow_fixtures import make_case, make_queue, make_user
from cases.workflow import services
from conftest import client_for, signed_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def world():
    analyst = make_user("ana", "analyst")
    general, high_risk = make_queue("General", analyst), make_queue("High risk")
    return {
        "analyst": analyst,
        "lead": make_user("lea", "lead"),
        "service": make_user("sync-bot", "service"),
        "mine": make_case(general, transactions=2),
        "theirs": make_case(high_risk, transactions=1),
    }


def test_a_token_is_stored_hashed_and_shown_once(world):
    client = token_client(world["analyst"])
    token = ApiToken.objects.get()

    assert client.issued.plain.startswith(f"fc_{token.prefix}_")
    secret = client.issued.plain.split("_", 2)[2]
    assert secret not in token.secret_hash and len(token.secret_hash) == 64
    created = AuditEvent.objects.get(action=AuditAction.API_TOKEN_CREATED)
    assert created.after["token"] == token.prefix and secret not in str(created.after)


def test_wrong_expired_and_revoked_tokens_are_401_alike(world):
    analyst = world["analyst"]
    good = token_client(analyst)
    expired = token_client(analyst, expires_at=timezone.now() + timedelta(seconds=1))
    ApiToken.objects.filter(prefix=expired.issued.token.prefix).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    revoked = token_client(analyst)
    api_token_revoke(actor=analyst, token_id=revoked.issued.token.pk)
    wrong = APIClient()
    wrong.credentials(HTTP_AUTHORIZATION=good.issued.plain[:-2].join(["Bearer ", "xx"]))

    assert good.get("/api/v1/cases/").status_code == 200
    details = {
        assert_problem(client.get("/api/v1/cases/"), 401, "authentication_failed")["detail"]
        for client in (expired, revoked, wrong)
    }
    assert details == {"the API token is unknown, expired or revoked"}
    assert_problem(APIClient().get("/api/v1/cases/"), 401, "not_authenticated")


def test_the_list_follows_the_read_policy_and_pages_in_change_order(world):
    analyst_client = token_client(world["analyst"])
    service_client = token_client(world["service"], actor=make_user("root", "admin"))

    mine = analyst_client.get("/api/v1/cases/").json()
    everything = service_client.get("/api/v1/cases/?page_size=1")

    assert [case["reference"] for case in mine["results"]] == [world["mine"].reference]
    first = everything.json()
    assert len(first["results"]) == 1 and first["next"]
    second = service_client.get(first["next"]).json()
    assert {first["results"][0]["id"], second["results"][0]["id"]} == {
        world["mine"].pk, world["theirs"].pk,
    }  # fmt: skip


def test_another_queues_case_is_a_404_like_a_missing_one(world):
    client = token_client(world["analyst"])

    hidden = client.get(f"/api/v1/cases/{world['theirs'].reference}/")
    missing = client.get("/api/v1/cases/FC-999999/")
    mine = client.get(f"/api/v1/cases/{world['mine'].reference}/")

    assert_problem(hidden, 404, "not_found")
    assert hidden.json()["detail"] == assert_problem(missing, 404, "not_found")["detail"]
    assert mine.status_code == 200 and mine["ETag"] == mine.json()["etag"]
    assert len(mine.json()["transactions"]) == 2


def test_updated_since_returns_what_changed_and_merged_cases_as_tombstones(world):
    lead = world["lead"]
    client = token_client(lead)
    target = make_case(world["mine"].queue)
    mark = timezone.now()

    services.case_merge(
        actor=lead, source_case_id=world["mine"].pk, target_case_id=target.pk,
        justification="same ring",
    )  # fmt: skip
    changed = client.get("/api/v1/cases/", {"updated_since": mark.isoformat()}).json()["results"]

    by_reference = {case["reference"]: case for case in changed}
    assert set(by_reference) == {world["mine"].reference, target.reference}
    gone = by_reference[world["mine"].reference]
    assert (gone["tombstone"], gone["merged_into"]) == (True, target.reference)


def test_bad_filters_name_each_field(world):
    client = token_client(world["analyst"])

    response = client.get("/api/v1/cases/", {"score_min": "lots", "country": "germany",
                                             "status": "maybe"})  # fmt: skip

    body = assert_problem(response, 400, "invalid_input")
    assert {error["field"] for error in body["errors"]} == {"score_min", "country", "status"}


def test_a_service_account_syncs_but_cannot_sign_in_to_the_pages(world, client):
    service = world["service"]
    service.set_password("a-long-test-password")
    service.save()

    refused = client.post(
        "/auth/login/", {"username": "sync-bot", "password": "a-long-test-password"}
    )

    assert refused.status_code == 200 and "This is a service account" in refused.content.decode()
    assert "_auth_user_id" not in client.session


def test_pages_walk_cases_that_share_one_change_time_once_each(world):
    """Ingest gives thousands of cases one updated_at: the cursor keys on (updated_at, id)."""
    queue = world["mine"].queue
    for _ in range(23):
        make_case(queue)
    moment = timezone.now()
    Case.objects.update(updated_at=moment)
    client = token_client(world["service"], actor=make_user("root", "admin"))

    seen, url, pages = [], "/api/v1/cases/?page_size=10", 0
    while url:
        body = client.get(url).json()
        seen += [case["id"] for case in body["results"]]
        url, pages = body["next"], pages + 1

    assert sorted(seen) == sorted(Case.objects.values_list("pk", flat=True)) and len(seen) == 25
    assert pages == 3
    assert_problem(client.get("/api/v1/cases/?cursor=bm90LWEtY3Vyc29y"), 400, "invalid_input")


def test_each_filter_of_the_queue_narrows_the_list():
    analyst, lead = make_user("ana", "analyst"), make_user("lea", "lead")
    general, high_risk = make_queue("General", analyst, lead), make_queue("High risk", lead)
    urgent, quiet, middling = make_case(general), make_case(high_risk), make_case(general)
    rows = {
        urgent: dict(status="open", assignee=analyst, max_similarity_score=0.95,
                     amount_at_risk=Decimal("5000"), amount_reporting=Decimal("5000"), opened_at=datetime(2026, 11, 10, tzinfo=UTC)),
        quiet: dict(status="in_review", assignee=None, max_similarity_score=0.5,
                    amount_at_risk=Decimal("100"), amount_reporting=Decimal("100"), opened_at=datetime(2026, 11, 1, tzinfo=UTC)),
        middling: dict(status="escalated", assignee=lead, max_similarity_score=0.75,
                       amount_at_risk=Decimal("800"), amount_reporting=Decimal("800"), opened_at=datetime(2026, 11, 20, tzinfo=UTC)),
    }  # fmt: skip
    for case, fields in rows.items():
        Case.objects.filter(pk=case.pk).update(**fields)
    urgent.transactions.update(country="FR")
    urgent.tags.add(Tag.objects.create(name="ato"))
    client = token_client(make_user("sync-bot", "service"), actor=make_user("root", "admin"))

    def listed(**filters) -> set[str]:
        response = client.get("/api/v1/cases/", filters)
        assert response.status_code == 200, response.content[:300]
        return {case["reference"] for case in response.json()["results"]}

    assert listed() == {urgent.reference, quiet.reference, middling.reference}
    assert listed(status="open") == {urgent.reference}
    assert listed(queue=high_risk.pk) == {quiet.reference}
    assert listed(assignee=analyst.pk) == {urgent.reference}
    assert listed(assignee="none") == {quiet.reference}
    assert listed(score_min=0.7) == {urgent.reference, middling.reference}
    assert listed(score_max=0.8) == {quiet.reference, middling.reference}
    assert listed(amount_min="500", amount_max="1000") == {middling.reference}
    assert listed(country="FR") == {urgent.reference}
    assert listed(tag="ato") == {urgent.reference}
    assert listed(opened_from="2026-11-05T00:00:00Z", opened_to="2026-11-15T00:00:00Z") == {
        urgent.reference
    }
    assert listed(status="open", country="DE") == set()  # filters combine


def test_a_case_shows_what_a_mirror_needs(world):
    analyst, lead, mine = world["analyst"], world["lead"], world["mine"]
    first, second = mine.transactions.order_by("occurred_at")
    services.case_assign(actor=lead, case_id=mine.pk, assignee_id=analyst.pk)
    services.transaction_decide(
        actor=analyst, transaction_id=first.transaction_id, decision="block"
    )
    services.transaction_label(actor=analyst, transaction_id=first.transaction_id, label="fraud")
    services.case_add_note(actor=analyst, case_id=mine.pk, body="called the bank")
    services.case_set_tags(actor=analyst, case_id=mine.pk, add=["ring", "ato"], remove=[])
    summary = {"labelled": 3, "fraud": 2, "legitimate": 1}
    Case.objects.filter(pk=mine.pk).update(
        neighbour_fraud_score=0.66, neighbour_summary=summary,
        due_at=datetime(2026, 12, 24, 17, tzinfo=UTC),
    )  # fmt: skip

    case = token_client(world["service"], actor=make_user("root", "admin")).get(
        f"/api/v1/cases/{mine.reference}/"
    )

    body = case.json()
    assert (body["queue"], body["assignee"], body["tags"]) == ("General", "ana", ["ato", "ring"])
    assert body["due_at"] == "2026-12-24T17:00:00Z"  # the SLA
    assert (body["neighbour_fraud_score"], body["neighbour_summary"]) == (0.66, summary)
    assert [note["body"] for note in body["notes"]] == ["called the bank"]
    shown = {tx["transaction_id"]: tx for tx in body["transactions"]}
    assert (shown[first.transaction_id]["decision"], shown[first.transaction_id]["decided_by"]) == (
        "block", "ana",
    )  # fmt: skip
    assert (shown[first.transaction_id]["label"], shown[first.transaction_id]["labelled_by"]) == (
        "fraud", "ana",
    )  # fmt: skip
    assert (shown[second.transaction_id]["decision"], shown[second.transaction_id]["label"]) == (
        "", "",
    )  # fmt: skip
    assert case["ETag"] == body["etag"] and body["tombstone"] is False


def test_the_browsable_api_takes_the_pages_session_once_past_the_second_factor(world):
    analyst, lead = world["analyst"], world["lead"]

    as_json = signed_in(Client(), analyst).get("/api/v1/cases/")
    as_html = signed_in(Client(), analyst).get("/api/v1/cases/", HTTP_ACCEPT="text/html")
    half_signed_in = signed_in(Client(), lead, second_factor=False).get("/api/v1/cases/")
    token = token_client(lead).issued.plain
    half_with_token = signed_in(Client(), lead, second_factor=False).get(
        "/api/v1/cases/", HTTP_AUTHORIZATION=f"Bearer {token}"
    )
    service = signed_in(Client(), world["service"], second_factor=False).get("/api/v1/cases/")
    forged = signed_in(Client(enforce_csrf_checks=True), analyst).post(
        "/api/v1/cases/claim-next/", {}, content_type="application/json"
    )

    assert as_json.status_code == 200
    assert [case["reference"] for case in as_json.json()["results"]] == [world["mine"].reference]
    assert as_html.status_code == 200 and as_html["Content-Type"].startswith("text/html")
    assert world["mine"].reference in as_html.content.decode()
    assert_problem(half_signed_in, 401, "not_authenticated")  # a lead needs the second factor
    assert half_with_token.status_code == 200  # the token decides, not the pages' 2FA redirect
    assert_problem(service, 401, "not_authenticated")  # service accounts: tokens only
    assert "CSRF" in assert_problem(forged, 403, "permission_denied")["detail"]
    assert Case.objects.get(pk=world["mine"].pk).assignee_id is None


def test_tokens_are_made_and_revoked_by_their_user_or_an_admin(world):
    analyst, service = world["analyst"], world["service"]
    admin = make_user("adam", "admin")

    with pytest.raises(ActionNotPermitted):
        api_token_create(actor=analyst, user_id=service.pk, name="theirs", scope="write")
    issued = api_token_create(actor=admin, user_id=service.pk, name="nightly", scope="read")
    bot = APIClient()
    bot.credentials(HTTP_AUTHORIZATION=f"Bearer {issued.plain}")
    with pytest.raises(NotFound):
        api_token_revoke(actor=analyst, token_id=issued.token.pk)

    assert bot.get("/api/v1/cases/").status_code == 200
    api_token_revoke(actor=admin, token_id=issued.token.pk)
    assert_problem(bot.get("/api/v1/cases/"), 401, "authentication_failed")
    created = AuditEvent.objects.get(action=AuditAction.API_TOKEN_CREATED)
    revoked = AuditEvent.objects.get(action=AuditAction.API_TOKEN_REVOKED)
    assert (created.actor, created.object_id) == (admin, str(service.pk))
    assert (revoked.actor, revoked.after["token"]) == (admin, issued.token.prefix)
    refused = AuditEvent.objects.filter(action=AuditAction.PERMISSION_DENIED).get()
    assert (refused.actor, refused.after["attempted"]) == (analyst, "api_token_create")
    assert ApiToken.objects.count() == 1


def test_cases_are_never_deleted_so_a_merge_is_the_only_tombstone(world):
    root = get_user_model().objects.create_superuser("root", password="a-long-test-password")
    mine = world["mine"]

    page = client_for(root).post(f"/admin/cases/case/{mine.pk}/delete/", {"post": "yes"})

    assert page.status_code == 403
    assert Case.objects.filter(pk=mine.pk).exists()
