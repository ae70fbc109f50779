"""The case page through Django's test client: what it shows, what it offers to whom, each
action through its view, refusals, exports, and escaping of everything that came from S3."""

import csv
import io
import re
import zlib
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.conf import settings
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from cases.casefile.selectors import case_detail, case_page
from cases.ingest.case_opening import cases_refresh_priority
from cases.models import (
    Attachment,
    AuditAction,
    AuditEvent,
    Case,
    CaseStatus,
    Note,
    Transaction,
)
from cases.similarity.search import SEARCH_MARK
from cases.similarity.services import similarity_index_catch_up
from cases.tests.workflow_fixtures import make_case, make_queue, make_reason_codes, make_user
from cases.workflow import services
from conftest import client_for

pytestmark = pytest.mark.django_db

XSS = "<script>alert(1)</script>"


@pytest.fixture(autouse=True)
def fresh_population_cache():
    cache.clear()


@pytest.fixture
def team():
    analyst = make_user("ana", "analyst")
    outsider = make_user("olga", "analyst")  # an analyst, but not in the case's queue
    lead = make_user("lea", "lead")
    auditor = make_user("audrey", "auditor")
    queue = make_queue("General", analyst, sla_hours=8, is_default=True)
    make_queue("Elsewhere", outsider, countries=["NZ"])  # routing takes no case of the tests here
    make_reason_codes()
    return {
        "analyst": analyst,
        "outsider": outsider,
        "lead": lead,
        "auditor": auditor,
        "queue": queue,
    }


def url(name: str, case: Case, *args) -> str:
    return reverse(name, args=[case.reference, *args])


def page_of(client: Client, case: Case) -> str:
    response = client.get(url("case-detail", case))
    assert response.status_code == 200
    return response.content.decode()


def messages_in(response) -> list[str]:
    return [str(message) for message in response.context["messages"]] if response.context else []


def follow(client: Client, path: str, data: dict, **extra):
    return client.post(path, data, follow=True, **extra)


def add_transaction(case: Case, transaction_id: str, *, minutes: int = 0, **fields) -> Transaction:
    values = {
        "account_id": case.account_id,
        "occurred_at": datetime(2026, 11, 2, 9, 0, tzinfo=UTC) + timedelta(minutes=minutes),
        "amount": Decimal("50.00"),
        "currency": "EUR",
        "similarity_score": 0.8,
        "model_version": "detector-2026.11.2",
        "outcome": "investigate",
        **fields,
    }
    return Transaction.objects.create(transaction_id=transaction_id, case=case, **values)


# --- reading -------------------------------------------------------------------------------


def test_the_page_needs_a_sign_in(team):
    case = make_case(team["queue"])

    response = Client().get(url("case-detail", case))

    assert response.status_code == 302 and response.url.startswith(reverse("login"))


@pytest.mark.parametrize("reference", ["FC-999999", "999999", "not-a-case", "FC-²"])
def test_an_unknown_case_is_a_404_page(team, reference):
    response = client_for(team["analyst"]).get(f"/cases/{reference}/")

    assert response.status_code == 404
    assert f"There is no case {reference}." in response.content.decode()


def test_a_user_without_a_role_is_refused_with_a_403_and_the_refusal_is_audited(team):
    case = make_case(team["queue"])
    nobody = make_user("nobody")

    response = client_for(nobody).get(url("case-detail", case))

    assert response.status_code == 403
    assert "may not view cases" in response.content.decode()
    refusal = AuditEvent.objects.get(action=AuditAction.PERMISSION_DENIED)
    assert refusal.actor == nobody and refusal.object_repr == case.reference


def test_the_page_shows_the_header_transactions_notes_attachments_related_and_history(team):
    analyst = team["analyst"]
    case = make_case(team["queue"], transactions=2)
    Case.objects.filter(pk=case.pk).update(
        due_at=datetime.now(UTC) + timedelta(hours=3, minutes=30)
    )
    neighbour = make_case(team["queue"], transactions=1)
    Transaction.objects.filter(case=neighbour).update(device_id=f"dev_shared_{case.pk}")
    Transaction.objects.filter(case=case).update(device_id=f"dev_shared_{case.pk}")
    services.case_add_note(actor=analyst, case_id=case.pk, body="Called the **customer**.")
    services.case_set_tags(actor=analyst, case_id=case.pk, add=["ato", "card-testing"])
    services.case_assign_to_me(actor=analyst, case_id=case.pk)

    page = page_of(client_for(analyst), case)

    assert f'<h1 id="case-title">{case.reference}</h1>' in page
    assert re.search(r"SLA: <time [^>]+>due in 3 h (29|30) min</time>", page)
    assert "<dd>ana</dd>" in page  # assignee
    assert "<strong>customer</strong>" in page
    assert '<li class="case-tag">ato' in page and '<li class="case-tag">card-testing' in page
    assert f"tx_w{case.account_id[5:]}_0" in page
    shared = f"dev_shared_{case.pk}"
    assert neighbour.reference in page
    assert f'device <a href="/devices/{shared}/">{shared}</a>' in page  # ids are links
    history = page.split('id="history-title"')[1]
    assert (
        history.index("Case assigned")
        < history.index("Case tags changed")
        < history.index("Note added")
    )
    assert 'id="case-timeline-data"' in page and "vendor/plotly.min.js" in page


def test_a_merged_case_shows_a_banner_linking_to_the_case_it_went_into(team):
    lead = team["lead"]
    source, target = make_case(team["queue"]), make_case(team["queue"])
    services.case_merge(
        actor=lead, source_case_id=source.pk, target_case_id=target.pk, justification="same ring"
    )

    source_page = page_of(client_for(team["analyst"]), source)
    target_page = page_of(client_for(team["analyst"]), target)

    assert "This case was merged into" in source_page
    assert f'href="{url("case-detail", target)}">{target.reference}</a>' in source_page
    assert "Merged from" in target_page and source.reference in target_page
    # The target's history carries the merged case's events too.
    assert target_page.split('id="history-title"')[1].count("Case merged") == 2


def _case_with(queue, transactions: int) -> Case:
    from conftest import unit_vector

    case = make_case(queue, transactions=transactions)
    for index, tx in enumerate(case.transactions.order_by("id")):
        tx.features = {"amount_z": 1.5 + index, "hour_sin": 0.2}
        tx.embedding = unit_vector(index)
        tx.save(update_fields=["features", "embedding"])
    return case


SAVEPOINT_SQL = re.compile(r"(SAVEPOINT|ROLLBACK TO SAVEPOINT|RELEASE SAVEPOINT) ")


def test_the_page_runs_a_fixed_number_of_queries_for_3_or_30_transactions(team):
    analyst = team["analyst"]
    _case_with(team["queue"], 12)  # neighbours for the similar-transactions panel
    counts = {}
    for size in (3, 30):
        case = _case_with(team["queue"], size)
        services.case_add_note(actor=analyst, case_id=case.pk, body="note")
        services.case_set_tags(actor=analyst, case_id=case.pk, add=["ato"])
        services.transaction_decide(
            actor=analyst, transaction_id=case.transactions.first().transaction_id, decision="block"
        )
        similarity_index_catch_up()  # the worker's part: new embeddings join the graph
        client = client_for(analyst)
        cache.clear()
        with CaptureQueriesContext(connection) as queries:
            response = client.get(url("case-detail", case))
        assert response.status_code == 200
        page = response.content.decode()
        assert page.count('class="case-verdict"') == size
        assert page.count('class="case-why"') == size
        assert "most similar transaction" in page  # the nearest-neighbour panel found some
        # The search's statements (and the savepoint around each) vary with the graph's state:
        # test_similarity's business. The page's own reads must not.
        counts[size] = sum(
            SEARCH_MARK not in query["sql"] and not SAVEPOINT_SQL.match(query["sql"])
            for query in queries
        )
        assert any(SEARCH_MARK in query["sql"] for query in queries)

    # 37 today: session, user, roles and permissions, the page's reads (the IP map's, the
    # case centroid's, the curation signals', the followers' and which of the account's cases
    # the timeline may draw included), the view's audit event (lock, chain head, insert), the
    # session save; each of the three neighbour searches (all and labelled for the case,
    # labelled for the open explanation's transaction, whose embedding is read first) counts
    # the case's own rows it leaves out (one unmarked count each).
    assert counts[3] == counts[30], counts
    assert counts[30] <= 37, counts


# --- offered actions per role --------------------------------------------------------------

ACTION_MARKERS = {
    "assign to me": "/assign/me/",
    "assign others": 'name="assignee_id"',
    "unassign": "/unassign/",
    "status": "/status/",
    "close": 'data-dialog-open="close-dialog"',
    "reopen": 'data-dialog-open="reopen-dialog"',
    "merge": 'data-dialog-open="merge-dialog"',
    "note": "/notes/",
    "tags": "/tags/",
    "attach": "/attachments/",
    "decide": "/verdict/",
}


def offered(page: str) -> set[str]:
    return {action for action, marker in ACTION_MARKERS.items() if marker in page}


@pytest.mark.parametrize(
    ("role", "status", "expected"),
    [
        ("analyst", "open", {"assign to me", "status", "close", "note", "tags", "attach", "decide"}),
        ("auditor", "open", set()),
        ("lead", "open", {"assign to me", "assign others", "status", "close", "merge", "note",
                          "tags", "attach", "decide"}),
        ("analyst", "closed", {"note", "tags", "attach"}),
        ("lead", "closed", {"reopen", "note", "tags", "attach"}),
    ],
)  # fmt: skip
def test_each_role_is_offered_only_what_the_services_allow(team, role, status, expected):
    case = make_case(team["queue"], status=status)

    page = page_of(client_for(team[role]), case)

    assert offered(page) == expected
    if not expected:
        assert "You can read this case" in page


def test_only_the_transitions_of_the_workflow_are_offered(team):
    case = make_case(team["queue"], status=CaseStatus.IN_REVIEW)

    page = page_of(client_for(team["analyst"]), case)

    offered_statuses = re.findall(r'name="to_status" value="([a-z_]+)"', page)
    assert offered_statuses == ["escalated", "waiting_on_customer"]
    assert "Move to escalated" in page and "Move to waiting on customer" in page


def test_an_assignee_is_offered_unassign_not_assign_to_me(team):
    case = make_case(team["queue"])
    services.case_assign_to_me(actor=team["analyst"], case_id=case.pk)

    actions = offered(page_of(client_for(team["analyst"]), case))

    assert "unassign" in actions and "assign to me" not in actions


# --- actions through the views -------------------------------------------------------------


def test_assign_to_me_then_unassign(team):
    analyst = team["analyst"]
    case = make_case(team["queue"])
    client = client_for(analyst)

    taken = follow(client, url("case-assign-to-me", case), {"expected_version": 1})
    case.refresh_from_db()
    assert (case.assignee, case.version) == (analyst, 2)
    assert messages_in(taken) == [f"{case.reference} is now assigned to you."]

    released = follow(client, url("case-unassign", case), {"expected_version": 2})
    case.refresh_from_db()
    assert (case.assignee, case.version) == (None, 3)
    assert released.redirect_chain == [(url("case-detail", case), 302)]


def test_a_lead_assigns_a_member_of_the_queue(team):
    case = make_case(team["queue"])

    response = follow(
        client_for(team["lead"]), url("case-assign", case),
        {"assignee_id": team["analyst"].pk, "expected_version": 1},
    )  # fmt: skip

    case.refresh_from_db()
    assert case.assignee == team["analyst"]
    assert messages_in(response) == [f"{case.reference} was assigned."]


def test_a_status_change_and_a_stale_version_conflict(team):
    case = make_case(team["queue"])
    client = client_for(team["analyst"])

    moved = follow(
        client, url("case-transition", case), {"to_status": "in_review", "expected_version": 1}
    )
    stale = follow(
        client, url("case-transition", case), {"to_status": "escalated", "expected_version": 1}
    )

    case.refresh_from_db()
    assert (case.status, case.version) == (CaseStatus.IN_REVIEW, 2)
    assert messages_in(moved) == [f"{case.reference} moved to in review."]
    assert messages_in(stale) == [
        f"{case.reference} was changed by someone else (version 2, you had 1); reload it and try again"
    ]
    assert 'class="message message-error"' in stale.content.decode()
    refusal = AuditEvent.objects.get(action=AuditAction.REFUSED)
    assert refusal.after["error"] == "stale_version"


def test_a_refused_transition_shows_the_allowed_moves(team):
    case = make_case(team["queue"])

    response = follow(
        client_for(team["analyst"]), url("case-transition", case),
        {"to_status": "escalated", "expected_version": 1},
    )  # fmt: skip

    assert messages_in(response) == [
        f"{case.reference} cannot go from open to escalated; allowed: closed, in_review"
    ]


def test_closing_through_the_dialog_applies_the_resolution(team):
    case = make_case(team["queue"], transactions=2)
    first = case.transactions.order_by("id").first()
    client = client_for(team["analyst"])
    client.post(
        url("case-transaction-verdict", case),
        {"transaction_id": first.transaction_id, "decision": "approve"},
    )

    response = follow(
        client, url("case-close", case),
        {"resolution": "confirmed_fraud", "reason_codes": ["card-compromised"],
         "comment": "Card used from two countries in an hour.", "expected_version": 1},
    )  # fmt: skip

    case.refresh_from_db()
    assert case.status == CaseStatus.CLOSED and case.resolution == "confirmed_fraud"
    assert list(case.reason_codes.values_list("code", flat=True)) == ["card-compromised"]
    decisions = dict(case.transactions.values_list("transaction_id", "decision"))
    assert decisions == {first.transaction_id: "approve", f"tx_w{case.account_id[5:]}_1": "block"}
    assert messages_in(response)[-1] == f"{case.reference} is closed."
    page = response.content.decode()
    assert "Card used from two countries in an hour." in page
    assert "Case closed" in page.split('id="history-title"')[1]


def test_closing_without_a_comment_is_refused_with_the_services_message(team):
    case = make_case(team["queue"])

    response = follow(
        client_for(team["analyst"]), url("case-close", case),
        {"resolution": "false_positive", "reason_codes": ["customer-confirmed"], "comment": " ",
         "expected_version": 1},
    )  # fmt: skip

    case.refresh_from_db()
    assert case.status == CaseStatus.OPEN
    assert messages_in(response) == ["closing needs a comment"]


def test_an_outsider_posting_a_close_gets_a_404_and_nothing_changes(team):
    case = make_case(team["queue"])

    response = client_for(team["outsider"]).post(
        url("case-close", case),
        {"resolution": "false_positive", "reason_codes": ["customer-confirmed"], "comment": "x"},
    )

    case.refresh_from_db()
    assert response.status_code == 404
    assert f"There is no case {case.reference}" in response.content.decode()
    assert "not one of your queues" not in response.content.decode()
    assert case.status == CaseStatus.OPEN and case.version == 1
    denial = AuditEvent.objects.get(action=AuditAction.PERMISSION_DENIED)
    assert (denial.actor, denial.object_id, denial.after["error"]) == (
        team["outsider"], str(case.pk), "not_visible",
    )  # fmt: skip


def test_an_outsider_reading_a_case_gets_the_same_404_as_for_no_case(team):
    case = make_case(team["queue"])
    outsider = client_for(team["outsider"])

    hidden = outsider.get(url("case-detail", case))
    missing = outsider.get(reverse("case-detail", args=["FC-999999"]))

    assert hidden.status_code == missing.status_code == 404
    assert case.account_id not in hidden.content.decode()
    main = re.compile(r"<main.*</main>", re.S)
    assert main.search(hidden.content.decode()).group().replace(case.reference, "FC-999999") == (
        main.search(missing.content.decode()).group()
    )


def test_a_lead_reopens_a_closed_case(team):
    case = make_case(team["queue"], status=CaseStatus.CLOSED, resolution="inconclusive")

    response = follow(
        client_for(team["lead"]),
        url("case-reopen", case),
        {"reason": "new evidence", "expected_version": 1},
    )

    case.refresh_from_db()
    assert case.status == CaseStatus.IN_REVIEW
    assert messages_in(response) == [f"{case.reference} is open again (in review)."]


def test_a_lead_merges_through_the_dialog_and_lands_on_the_target(team):
    source, target = make_case(team["queue"]), make_case(team["queue"])

    response = follow(
        client_for(team["lead"]), url("case-merge", source),
        {"target": target.reference, "justification": "same device ring", "expected_version": 1},
    )  # fmt: skip

    source.refresh_from_db()
    assert (source.status, source.merged_into_id) == (CaseStatus.MERGED, target.pk)
    assert response.redirect_chain[-1] == (url("case-detail", target), 302)
    assert messages_in(response) == [f"{source.reference} was merged into {target.reference}."]
    assert target.transactions.count() == 4


def test_an_analyst_cannot_merge_and_a_bad_target_is_a_message(team):
    source = make_case(team["queue"])

    refused = client_for(team["analyst"]).post(
        url("case-merge", source), {"target": "FC-000001", "justification": "x"}
    )
    bad = follow(
        client_for(team["lead"]), url("case-merge", source), {"target": "", "justification": "x"}
    )

    assert refused.status_code == 403
    assert messages_in(bad) == ["enter the reference of the case to merge into, like FC-000123"]
    source.refresh_from_db()
    assert source.status == CaseStatus.OPEN


def test_notes_and_tags(team):
    case = make_case(team["queue"])
    client = client_for(team["analyst"])

    noted = follow(client, url("case-add-note", case), {"body": "Spoke to the *merchant*."})
    tagged = follow(client, url("case-tags", case), {"add": "ato, card-testing"})
    untagged = follow(client, url("case-tags", case), {"remove": "ato"})
    empty_note = follow(client, url("case-add-note", case), {"body": "  "})

    assert noted.redirect_chain == [(url("case-detail", case) + "#notes", 302)]
    assert Note.objects.get(case=case).body == "Spoke to the *merchant*."
    assert messages_in(tagged) == ["Tags updated."]
    assert sorted(case.tags.values_list("name", flat=True)) == ["card-testing"]
    assert 'aria-label="Remove tag card-testing"' in untagged.content.decode()
    assert messages_in(empty_note) == ["a note cannot be empty"]


def test_an_attachment_is_stored_in_s3_and_downloaded_through_the_page(team):
    case = make_case(team["queue"])
    client = client_for(team["analyst"])
    body = b"transaction_id,amount\ntx_1,10.00\n"

    uploaded = follow(
        client, url("case-attach", case),
        {"file": SimpleUploadedFile("bank statement.csv", body, content_type="text/csv")},
    )  # fmt: skip
    attachment = Attachment.objects.get(case=case)
    download = client.get(url("case-attachment-download", case, attachment.pk))

    assert messages_in(uploaded) == ["Attached bank statement.csv."]
    assert attachment.filename == "bank_statement.csv"
    assert attachment.s3_bucket == settings.FRAUDCASE_ATTACHMENTS_BUCKET
    assert download.status_code == 200
    assert download["Content-Disposition"] == 'attachment; filename="bank_statement.csv"'
    assert download["Content-Type"] == "text/csv"
    assert b"".join(download.streaming_content) == body
    other = make_case(team["queue"])
    assert client.get(url("case-attachment-download", other, attachment.pk)).status_code == 404
    nobody = client_for(make_user("nobody"))
    assert nobody.get(url("case-attachment-download", case, attachment.pk)).status_code == 403


def test_an_attachment_whose_content_is_not_its_type_is_refused(team):
    case = make_case(team["queue"])

    response = follow(
        client_for(team["analyst"]), url("case-attach", case),
        {"file": SimpleUploadedFile("x.pdf", b"not a pdf", content_type="application/pdf")},
    )  # fmt: skip

    assert messages_in(response) == ["the file's content is not application/pdf"]
    assert not Attachment.objects.exists()


def test_deciding_and_labelling_with_htmx_returns_the_updated_row(team):
    case = make_case(team["queue"])
    tx = case.transactions.order_by("id").first()
    client = client_for(team["analyst"])

    decided = client.post(
        url("case-transaction-verdict", case), {"transaction_id": tx.transaction_id, "decision": "block"},
        HTTP_HX_REQUEST="true",
    )  # fmt: skip
    labelled = client.post(
        url("case-transaction-verdict", case), {"transaction_id": tx.transaction_id, "label": "fraud"},
        HTTP_HX_REQUEST="true",
    )  # fmt: skip

    tx.refresh_from_db()
    assert (tx.decision, tx.label) == ("block", "fraud")
    row = labelled.content.decode()
    assert decided.status_code == labelled.status_code == 200
    assert row.startswith(f'<tr id="tx-row-{tx.pk}"')
    assert (
        f'id="tx-{tx.pk}-decision-block" class="case-choice case-choice-bad" aria-pressed="true"'
        in row
    )
    assert (
        f'id="tx-{tx.pk}-label-fraud" class="case-choice case-choice-bad" aria-pressed="true"'
        in row
    )
    assert "Label saved: fraud." in row and "by ana" in row


def test_transaction_rows_show_their_time_and_links_as_reverse_and_the_date_filter_make_them(
    team,
):
    """Rows get their time text and IP and device links made once per page (not a url tag and
    a date filter per row): the same as reverse() and date:"Y-m-d H:i:s", on the page and in
    the verdict's htmx row."""
    from django.template.defaultfilters import date as date_filter
    from django.utils.html import escape

    case = make_case(team["queue"], transactions=0)
    plain = add_transaction(case, "tx-plain", source_ip="81.2.69.160", device_id="dev_1")
    odd = add_transaction(
        case, "tx-odd", minutes=61, source_ip="2001:db8::7", device_id="dev/ü 1&2"
    )
    bare = add_transaction(case, "tx-bare", minutes=5, source_ip=None, device_id="")
    client = client_for(team["analyst"])

    page = page_of(client, case)
    verdict = client.post(
        url("case-transaction-verdict", case), {"transaction_id": "tx-odd", "decision": "block"},
        HTTP_HX_REQUEST="true",
    ).content.decode()  # fmt: skip

    def row_of(html: str, tx: Transaction) -> str:
        return re.search(rf'<tr id="tx-row-{tx.pk}".*?</tr>', html, re.S).group(0)

    for html, tx in ((page, plain), (page, odd), (verdict, odd)):
        row = row_of(html, tx)
        assert f">{date_filter(tx.occurred_at, 'Y-m-d H:i:s')}</time>" in row
        assert f'<a href="{escape(reverse("ip-detail", args=[tx.source_ip]))}">' in row
        assert f'<a href="{escape(reverse("device-detail", args=[tx.device_id]))}">' in row
    assert "2026-11-02 10:01:00" in row_of(page, odd)
    assert "/ips/" not in row_of(page, bare) and "/devices/" not in row_of(page, bare)


def test_a_refused_decision_keeps_the_row_and_says_why(team):
    case = make_case(team["queue"])
    tx = case.transactions.order_by("id").first()

    refused = client_for(team["auditor"]).post(
        url("case-transaction-verdict", case), {"transaction_id": tx.transaction_id, "decision": "block"},
        HTTP_HX_REQUEST="true",
    )  # fmt: skip
    invalid = client_for(team["analyst"]).post(
        url("case-transaction-verdict", case), {"transaction_id": tx.transaction_id, "decision": "maybe"},
        HTTP_HX_REQUEST="true",
    )  # fmt: skip
    foreign = client_for(team["analyst"]).post(
        url("case-transaction-verdict", case), {"transaction_id": "tx_elsewhere", "decision": "block"}, follow=True
    )  # fmt: skip

    tx.refresh_from_db()
    assert tx.decision == ""
    assert refused.status_code == 403 and "the role does not work cases" in refused.content.decode()
    assert 'role="alert"' in refused.content.decode()
    assert invalid.status_code == 400
    assert "decision must be one of approve, investigate, block" in invalid.content.decode()
    assert messages_in(foreign) == [
        f"tx_elsewhere: 'tx_elsewhere' is not a transaction of {case.reference}"
    ]


# --- escaping ------------------------------------------------------------------------------


def test_a_merchant_and_a_note_from_untrusted_text_stay_text(team):
    case = make_case(team["queue"], transactions=0)
    add_transaction(case, "tx_xss", merchant=XSS, device_id='"><img src=x onerror=alert(1)>')
    cases_refresh_priority(case_ids=[case.pk])
    services.case_add_note(
        actor=team["analyst"], case_id=case.pk,
        body=f"{XSS}\n\nsee [the ticket](https://tickets.example/1) and "
             '<a href="javascript:alert(3)">this</a> <img src=x onerror="alert(4)">',
    )  # fmt: skip

    page = page_of(client_for(team["analyst"]), case)

    assert "<script>alert" not in page
    assert "<img" not in page and 'onerror="alert' not in page
    assert "&quot;&gt;&lt;img src=x onerror=alert(1)&gt;" in page  # the device id, as text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page  # the merchant, as text
    assert '<a href="https://tickets.example/1" rel="noopener noreferrer">the ticket</a>' in page
    assert 'href="javascript:' not in page
    timeline = page.split('id="case-timeline-data"')[1].split("</script>")[0]
    assert "<" not in timeline.split(">", 1)[1]  # json_script escapes < > & inside the JSON


# --- why was this flagged ------------------------------------------------------------------


def test_why_flagged_ranks_features_by_deviation_with_exact_figures(team, settings):
    settings.FRAUDCASE_EXPLAIN_MIN_BASELINE = 2  # the maths on histories of three
    case = make_case(team["queue"], account_id="acc_why", transactions=0)
    add_transaction(case, "tx_1", minutes=1, features={"amount_z": 1, "hour": 0.4})
    add_transaction(case, "tx_2", minutes=2, features={"amount_z": 2, "hour": 0.5})
    add_transaction(case, "tx_3", minutes=3, features={"amount_z": 3, "hour": 0.6})
    odd = add_transaction(
        case, "tx_odd", minutes=4, similarity_score=0.97,
        features={"amount_z": 9, "hour": 0.5, "new_device": 1, "flag": True, "note": "x"},
    )  # fmt: skip
    other = make_case(team["queue"], account_id="acc_else", transactions=0)
    add_transaction(other, "tx_else", features={"amount_z": 5, "hour": 0.1})

    page = case_page(case_detail(case.reference), viewer=team["lead"])

    top = page.explanations[0]  # the highest score comes first
    assert top.transaction.pk == odd.pk and top.account_history == 3
    assert [f.name for f in top.features] == ["amount_z", "hour", "new_device"]
    amount, hour, device = top.features
    # Account: the other three, 1..3; population: 1, 2, 3, 5, 9 (percentile_cont).
    assert (amount.account_median, amount.account_min, amount.account_max) == (2, 1, 3)
    assert amount.account_deviation == pytest.approx(3.5)
    assert (amount.population.p5, amount.population.median, amount.population.p95) == pytest.approx(
        (1.2, 3, 8.2)
    )
    assert amount.population_deviation == pytest.approx(6 / 7)
    assert (hour.account_median, hour.account_deviation) == (pytest.approx(0.5), pytest.approx(0))
    assert (hour.population.p5, hour.population.p95) == pytest.approx((0.16, 0.58))
    assert hour.population_deviation == pytest.approx(0)
    assert (device.account_count, device.account_deviation, device.population_deviation) == (
        0,
        None,
        None,
    )
    first = next(e for e in page.explanations if e.transaction.transaction_id == "tx_1")
    # tx_1: hour 0.4 against 0.5, 0.5, 0.6 is a whole range below; amount_z 1 against 2, 3, 9
    # is (1 - 3) / 7 below its account and (1 - 3) / 7 below the population.
    assert [f.name for f in first.features] == ["hour", "amount_z"]
    assert first.features[0].account_deviation == pytest.approx(-1.0)
    assert first.features[1].account_deviation == pytest.approx(-2 / 7)
    assert first.features[1].population_deviation == pytest.approx(-2 / 7)

    html = page_of(client_for(team["analyst"]), case)
    section = html.split('id="why-title"')[1].split("</details>")[0]
    assert "tx_odd" in section and "model <code>detector-2026.11.2</code>" in section
    assert (
        "score <strong>0.970</strong>" in section
        and "most unusual: <strong>amount_z</strong>" in section
    )
    assert (
        section.index("<code>amount_z</code>")
        < section.index("<code>hour</code>")
        < section.index('new device <code class="case-muted">new_device</code>')
    )
    # In words: the feature dictionary names new_device; amount_z is in no dictionary.
    assert (
        "Amount_z: 9, far higher than this account&#x27;s usual (median 2, 1 to 3 over 3 transactions)."
        in section
    )
    assert '<td class="case-num case-dev case-dev-high">3.50</td>' in section
    assert '<td class="case-num case-dev">0.86</td>' in section


def test_the_other_transactions_tables_load_when_opened(team, settings):
    settings.FRAUDCASE_EXPLAIN_MIN_BASELINE = 2  # the maths on histories of two
    case = make_case(team["queue"], account_id="acc_lazy", transactions=0)
    first = add_transaction(case, "tx_1", minutes=1, features={"amount_z": 1, "hour": 0.4})
    add_transaction(case, "tx_2", minutes=2, features={"amount_z": 2, "hour": 0.5})
    add_transaction(
        case, "tx_3", minutes=3, features={"amount_z": 5, "hour": 0.6}, similarity_score=0.9
    )
    client = client_for(team["analyst"])
    why = url("case-why-flagged", case) + f"?transaction={first.pk}"

    page = page_of(client, case)
    fragment = client.get(why, HTTP_HX_REQUEST="true").content.decode()
    full = client.get(why)
    foreign = client.get(
        url("case-why-flagged", make_case(team["queue"])) + f"?transaction={first.pk}"
    )

    assert page.count('<table class="case-why-table">') == 1  # the top one, tx_3
    assert f'hx-get="{why}" hx-trigger="toggle from:closest details once"' in page
    assert fragment.lstrip().startswith('<div class="case-why-words">')
    assert (
        "<li>Hour: 0.4, lower than this account&#x27;s usual (median 0.55, 0.5 to 0.6 over 2 "
        "transactions).</li>" in fragment
    )
    # tx_1 against tx_2 and tx_3: hour 0.4 is (0.4 - 0.55) / 0.1 = -1.5 ranges off, amount_z 1
    # only (1 - 3.5) / 3 = -0.83.
    assert fragment.index("<code>hour</code>") < fragment.index("<code>amount_z</code>")
    assert '<td class="case-num case-dev case-dev-high">-1.50</td>' in fragment
    assert '<td class="case-num case-dev">-0.83</td>' in fragment
    assert full.status_code == 200 and "<h1>Why tx_1 was flagged</h1>" in full.content.decode()
    assert foreign.status_code == 404
    assert client.get(url("case-why-flagged", case) + "?transaction=%C2%B2").status_code == 404


def test_the_timeline_holds_every_transaction_of_the_account_marked_by_what_became_of_it(team):
    analyst = team["analyst"]
    case = make_case(team["queue"], account_id="acc_line", transactions=0)
    old = make_case(team["queue"], account_id="acc_line_old", transactions=0)
    Case.objects.filter(pk=old.pk).update(account_id="acc_line", status=CaseStatus.CLOSED)
    add_transaction(
        old,
        "tx_old",
        minutes=-600,
        amount=Decimal("12.00"),
        account_id="acc_line",
        label="legitimate",
        decision="approve",
    )
    add_transaction(case, "tx_new", minutes=0, amount=Decimal("900.00"))
    decided = add_transaction(case, "tx_decided", minutes=5, amount=Decimal("40.00"))
    services.transaction_decide(
        actor=analyst, transaction_id=decided.transaction_id, decision="block"
    )

    points = case_page(case_detail(case.reference), viewer=analyst).timeline

    assert [(p["id"], p["amount"], p["group"]) for p in points] == [
        ("tx_old", 12.0, "Other cases: labelled legitimate"),
        ("tx_new", 900.0, "This case: flagged, undecided"),
        ("tx_decided", 40.0, "This case: decided, no label"),
    ]


# --- exports -------------------------------------------------------------------------------


def _pdf_text(pdf: bytes) -> str:
    """The PDF's page content, inflated."""
    chunks = []
    for match in re.finditer(rb"stream\r?\n(.*?)\r?\nendstream", pdf, re.S):
        try:
            chunks.append(zlib.decompress(match.group(1)))
        except zlib.error:
            chunks.append(match.group(1))
    return b"\n".join(chunks).decode("latin-1")


def test_the_pdf_report_holds_the_case(team):
    analyst = team["analyst"]
    case = make_case(team["queue"], transactions=0)
    add_transaction(case, "tx_pdf", merchant="Café → Ünïcode 🚀 shop", amount=Decimal("123.45"))
    services.case_add_note(
        actor=analyst, case_id=case.pk, body="Customer says the — card was stolen."
    )
    services.transaction_decide(actor=analyst, transaction_id="tx_pdf", decision="block")

    response = client_for(team["auditor"]).get(url("case-report-pdf", case))

    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == f'attachment; filename="{case.reference}-report.pdf"'
    assert response.content.startswith(b"%PDF")
    text = _pdf_text(response.content)
    assert f"Suspicious-activity report {case.reference}" in text
    assert "tx_pdf" in text and "123.45 EUR" in text
    assert "Caf\\351 -> \\334n\\357code ? shop" in text or "Café -> Ünïcode ? shop" in text
    assert "card was stolen" in text and "Transaction decided" in text


def test_the_csv_export_neutralises_spreadsheet_formulas(team):
    case = make_case(team["queue"], transactions=0)
    merchants = [
        '=HYPERLINK("http://x")',
        "+1+2",
        "-3",
        "@SUM(A1)",
        "\tTab",
        "\rCR",
        "'quoted",
        "Plain",
    ]
    for index, merchant in enumerate(merchants):
        add_transaction(case, f"tx_csv_{index}", minutes=index, merchant=merchant)

    response = client_for(team["analyst"]).get(url("case-export-csv", case))

    assert response.status_code == 200
    assert (
        response["Content-Disposition"]
        == f'attachment; filename="{case.reference}-transactions.csv"'
    )
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert [row["merchant"] for row in rows] == [
        '\'=HYPERLINK("http://x")',
        "'+1+2",
        "'-3",
        "'@SUM(A1)",
        "'\tTab",
        "'\rCR",
        "''quoted",
        "Plain",
    ]
    assert [row["case"] for row in rows] == [case.reference] * 8
    assert rows[0]["amount"] == "50.00" and rows[0]["model_version"] == "detector-2026.11.2"


# --- the nearest-neighbour panel -----------------------------------------------------------


def test_the_page_shows_transactions_of_other_cases_most_similar_to_this_one(team):
    from conftest import unit_vector

    case = make_case(team["queue"], transactions=0)
    add_transaction(case, "tx_mine", embedding=unit_vector(1))
    near = make_case(team["queue"], transactions=0)
    add_transaction(
        near, "tx_near", embedding=unit_vector(1) * 0.9 + unit_vector(2) * 0.1, merchant=XSS
    )
    far = make_case(team["queue"], transactions=0)
    add_transaction(far, "tx_far", embedding=unit_vector(3))

    page = page_of(client_for(team["analyst"]), case)

    panel = page.split('id="similar-heading"')[1].split("</section>")[0]
    assert panel.index(near.reference) < panel.index(far.reference)
    assert "tx_mine" not in panel
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in panel
