"""The triage queue page: tabs, filters, sorts, search, bulk actions, claim next, escaping,
and a query count that does not grow with the rows shown."""

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from cases.clock import database_now
from cases.models import AuditAction, AuditEvent, Case, CaseStatus, Tag, Transaction
from cases.tests.workflow_fixtures import make_case, make_queue, make_reason_codes, make_user
from cases.workflow import services
from conftest import signed_in

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}
OPENED_BASE = datetime(2026, 10, 20, 12, 0, tzinfo=UTC)


# --- builders ----------------------------------------------------------------------------------


def shown(response) -> list[int]:
    """Case ids of the rows on the page, in order."""
    return [int(pk) for pk in re.findall(r'data-case-id="(\d+)"', response.content.decode())]


def set_case(case: Case, **fields) -> Case:
    Case.objects.filter(pk=case.pk).update(**fields)
    case.refresh_from_db()
    return case


@pytest.fixture
def world():
    """An analyst in "General", a lead, and cases in General and Fraud ring."""
    ana = make_user("ana", "analyst")
    bob = make_user("bob", "analyst")
    lead = make_user("lea", "lead")
    general = make_queue("General", ana, bob)
    ring = make_queue("Fraud ring", bob)
    return {
        "ana": ana, "bob": bob, "lead": lead, "general": general, "ring": ring,
        "general_free": make_case(general),
        "general_ana": make_case(general, assignee=ana),
        "ring_free": make_case(ring),
        "ring_ana": make_case(ring, assignee=ana),
        "closed": make_case(general, status=CaseStatus.CLOSED),
    }  # fmt: skip


# --- access and tabs ---------------------------------------------------------------------------


def test_the_queue_needs_sign_in_and_is_the_home_page(client):
    for url in (reverse("home"), reverse("case-queue")):
        response = client.get(url)
        assert response.status_code == 302
        assert response.url.startswith(reverse("login"))
    assert reverse("home") == "/" and reverse("case-queue") == "/cases/"


def test_an_htmx_refresh_after_the_session_ended_reloads_to_the_sign_in_page(client):
    refresh = client.get("/cases/?tab=mine", **HTMX)
    action = client.post(reverse("case-bulk"), {"action": "assign_to_me"}, **HTMX)

    for response in (refresh, action):
        assert response.status_code == 204
        assert response["HX-Redirect"] == f"{reverse('login')}?next=%2F"


def test_an_analyst_sees_their_queues_and_own_cases_per_tab(client, world):
    signed_in(client, world["ana"])

    mine = client.get("/?tab=mine")
    unassigned = client.get("/?tab=unassigned")
    general = client.get(f"/?tab=queue-{world['general'].pk}&sort=reference")

    assert set(shown(mine)) == {world["general_ana"].pk, world["ring_ana"].pk}
    assert shown(unassigned) == [world["general_free"].pk]
    assert shown(general) == [world["general_free"].pk, world["general_ana"].pk]
    page = client.get("/").content.decode()
    assert 'aria-current="page">Unassigned' in page  # an analyst starts on unassigned work
    assert f"tab=queue-{world['ring'].pk}" not in page and "tab=all" not in page
    assert '<span id="queue-count-mine" class="queue-count">2</span>' in page
    assert '<span id="queue-count-unassigned" class="queue-count">1</span>' in page


def test_an_analyst_is_refused_all_cases_and_other_queues(client, world):
    signed_in(client, world["ana"])

    every = client.get("/?tab=all")
    other_queue = client.get(f"/?tab=queue-{world['ring'].pk}")
    unknown = client.get("/?tab=nonsense")
    superscript = client.get("/?tab=queue-%C2%B2")  # "²" passes isdigit() but not int()

    assert superscript.status_code == 400 and "is not a tab" in superscript.content.decode()
    assert every.status_code == 403 and "may not list every case" in every.content.decode()
    assert other_queue.status_code == 403 and shown(other_queue) == []
    assert unknown.status_code == 400 and "is not a tab of the queue" in unknown.content.decode()
    denied = AuditEvent.objects.filter(action=AuditAction.PERMISSION_DENIED, actor=world["ana"])
    assert denied.count() == 2


def test_a_lead_sees_every_queue_and_all_open_cases(client, world):
    signed_in(client, world["lead"])

    page = client.get("/?tab=all&sort=reference")

    open_ids = [world[name].pk for name in ("general_free", "general_ana", "ring_free", "ring_ana")]
    assert page.status_code == 200 and shown(page) == open_ids
    text = page.content.decode()
    assert f"tab=queue-{world['ring'].pk}" in text
    assert '<span id="queue-count-all" class="queue-count">4</span>' in text
    ring = client.get(f"/?tab=queue-{world['ring'].pk}&sort=reference")
    assert shown(ring) == [world["ring_free"].pk, world["ring_ana"].pk]
    closed = client.get("/?tab=all&status=closed")
    assert shown(closed) == [world["closed"].pk]


def test_the_htmx_refresh_returns_rows_and_counts_for_the_same_filters(client, world):
    signed_in(client, world["lead"])
    set_case(world["ring_free"], max_similarity_score=0.95)

    response = client.get("/cases/?tab=all&score_min=0.9", **HTMX)

    text = response.content.decode()
    assert response.status_code == 200 and "<html" not in text
    assert shown(response) == [world["ring_free"].pk]
    assert '<span id="queue-count-all" class="queue-count" hx-swap-oob="true">4</span>' in text
    assert 'id="queue-summary"' in text and "1 case match" in text
    page = client.get("/?tab=all&score_min=0.9").content.decode()
    assert 'hx-get="/cases/?tab=all&amp;score_min=0.9"' in page and 'hx-trigger="every 30s' in page


# --- filters, search, sort ---------------------------------------------------------------------


@pytest.fixture
def varied(world):
    """Five open cases in General with distinct values in every column."""
    general, ana = world["general"], world["ana"]
    Case.objects.exclude(pk__in=[]).filter(status=CaseStatus.OPEN).update(status=CaseStatus.CLOSED)
    now = database_now()  # the SLA's clock
    specs = [
        # score, outcome, amount, status, assignee, opened days ago, due in hours, country
        (0.95, "block", "5000.00", CaseStatus.OPEN, None, 1, -2, "NG"),
        (0.55, "approve", "20.00", CaseStatus.IN_REVIEW, ana, 3, 5, "DE"),
        (0.75, "investigate", "900.00", CaseStatus.ESCALATED, None, 10, 30, "FR"),
        (0.85, "", "12000.00", CaseStatus.OPEN, ana, 6, None, "GB"),
        (0.65, "investigate", "150.00", CaseStatus.WAITING_ON_CUSTOMER, None, 0, 1, "US"),
    ]
    cases = []
    for index, (score, outcome, amount, status, assignee, days, due, country) in enumerate(specs):
        case = make_case(general, account_id=f"acc-varied-{index}", transactions=index + 1)
        Transaction.objects.filter(case=case).update(country="DE")
        latest = Transaction.objects.filter(case=case).order_by("-occurred_at").first()
        Transaction.objects.filter(pk=latest.pk).update(country=country)
        set_case(
            case, max_similarity_score=score, worst_outcome=outcome, amount_at_risk=Decimal(amount), amount_reporting=Decimal(amount),
            status=status, assignee=assignee, opened_at=OPENED_BASE - timedelta(days=days, hours=index),
            due_at=None if due is None else now + timedelta(hours=due), priority=int(score * 100),
        )  # fmt: skip
        # First flagged an hour before the case opened: age runs from the first flag.
        for minute, tx in enumerate(Transaction.objects.filter(case=case).order_by("occurred_at")):
            Transaction.objects.filter(pk=tx.pk).update(
                occurred_at=case.opened_at - timedelta(hours=1, minutes=-minute)
            )
        cases.append(case)
    cases[0].tags.add(Tag.objects.create(name="mule"))
    return cases


def test_each_filter_narrows_the_list(client, world, varied):
    signed_in(client, world["lead"])
    c = [case.pk for case in varied]
    base = OPENED_BASE.date()
    expectations = {
        "status=in_review": [c[1]],
        "status=waiting_on_customer": [c[4]],
        f"assignee={world['ana'].pk}": [c[1], c[3]],
        "assignee=none": [c[0], c[2], c[4]],
        "score_min=0.7&score_max=0.9": [c[2], c[3]],
        "amount_min=100&amount_max=1000": [c[2], c[4]],
        "country=ng": [c[0]],
        "country=DE": [c[1], c[2], c[3], c[4]],  # any transaction, not only the latest
        f"opened_from={base - timedelta(days=4)}&opened_to={base - timedelta(days=1)}": [
            c[0], c[1]
        ],
        "tag=mule": [c[0]],
    }  # fmt: skip
    for query, expected in expectations.items():
        response = client.get(f"/?tab=all&sort=reference&{query}")
        assert response.status_code == 200, query
        assert shown(response) == expected, query


def test_the_assignee_filter_me_and_a_bad_filter_value(client, world, varied):
    signed_in(client, world["ana"])

    mine = client.get("/?tab=unassigned&assignee=me")
    bad = client.get("/?tab=mine&score_min=2&sort=reference")

    assert shown(mine) == []  # unassigned and mine exclude each other
    assert shown(bad) == [varied[1].pk, varied[3].pk]  # the bad bound filters nothing
    assert "score_min: Ensure this value is less than or equal to 1." in bad.content.decode()


def test_search_by_reference_account_transaction_ip_and_device(client, world, varied):
    signed_in(client, world["lead"])
    target = varied[2]
    tx = Transaction.objects.filter(case=target).order_by("id").first()
    Transaction.objects.filter(pk=tx.pk).update(source_ip="203.0.113.77", device_id="dev-unique-9")

    for term in (
        target.reference, str(target.pk), target.reference.lower(), "varied-2",
        tx.transaction_id, "203.0.113.77", "dev-unique-9",
    ):  # fmt: skip
        response = client.get("/", {"tab": "all", "q": term})
        assert shown(response) == [target.pk], term
    superscript = client.get("/", {"tab": "all", "q": "FC-²"})  # isdigit(), yet not a number
    assert superscript.status_code == 200 and shown(superscript) == []
    nothing = client.get("/", {"tab": "all", "q": "no-such-thing"})
    assert shown(nothing) == [] and "No case matches these filters" in nothing.content.decode()
    assert 'href="?tab=all">Clear filters</a>' in nothing.content.decode()


@pytest.mark.parametrize(
    "sort, key",
    [
        ("reference", lambda case: case.pk),
        ("account", lambda case: case.account_id),
        ("priority", lambda case: case.priority),
        ("score", lambda case: case.max_similarity_score),
        (
            "outcome",
            lambda case: {"block": 3, "investigate": 2, "approve": 1}.get(case.worst_outcome, 0),
        ),
        ("amount", lambda case: case.amount_reporting),
        ("country", lambda case: case.latest_country),
        ("transactions", lambda case: case.transaction_count),
        ("age", lambda case: -case.opened_at.timestamp()),
    ],
)
def test_every_column_sorts_both_ways(client, world, varied, sort, key):
    signed_in(client, world["lead"])
    for case in varied:
        case.latest_country = (
            Transaction.objects.filter(case=case).order_by("-occurred_at").first().country
        )
    # Ties fall back to opened_at then id; every value here is distinct except the outcome.
    tiebreak = lambda case: (case.opened_at, case.pk)  # noqa: E731

    ascending = shown(client.get(f"/?tab=all&sort={sort}"))
    descending = shown(client.get(f"/?tab=all&sort=-{sort}"))

    assert ascending == [c.pk for c in sorted(varied, key=lambda c: (key(c), tiebreak(c)))]
    by_desc = sorted(varied, key=tiebreak)
    by_desc.sort(key=key, reverse=True)  # stable: ties keep the opened_at, id order
    assert descending == [c.pk for c in by_desc]


def test_sla_and_assignee_sort_with_empty_values_last(client, world, varied):
    signed_in(client, world["lead"])
    c = [case.pk for case in varied]

    by_sla = shown(client.get("/?tab=all&sort=sla"))
    by_assignee = shown(client.get("/?tab=all&sort=assignee"))

    assert by_sla == [c[0], c[4], c[1], c[2], c[3]]  # overdue first, no due time last
    assert by_assignee[:2] == sorted([c[1], c[3]], key=lambda pk: Case.objects.get(pk=pk).opened_at)
    page = client.get("/?tab=all&sort=sla").content.decode()
    assert 'aria-sort="ascending"' in page
    assert (
        'class="queue-sla queue-sla-breached"><span class="queue-sr-only">SLA breached: </span>overdue 2 h'
        in page
    )


def test_an_unknown_sort_is_refused_and_the_default_is_priority(client, world, varied):
    signed_in(client, world["lead"])

    default = client.get("/?tab=all")
    bad = client.get("/?tab=all&sort=password")

    assert shown(default) == [c.pk for c in sorted(varied, key=lambda c: -c.priority)]
    assert 'aria-sort="descending"' in default.content.decode()
    assert bad.status_code == 400 and "cannot sort by &#x27;password&#x27;" in bad.content.decode()


def test_pages_of_fifty(client, world):
    signed_in(client, world["lead"])
    for _ in range(51):
        make_case(world["general"], transactions=1)

    first = client.get("/?tab=unassigned&sort=reference")
    second = client.get("/?tab=unassigned&sort=reference&page=2")

    assert len(shown(first)) == 50 and len(shown(second)) == 3  # 51 + the fixture's two
    assert "Page 1 of 2" in first.content.decode()
    assert 'href="?tab=unassigned&amp;sort=reference&amp;page=2"' in first.content.decode()


# --- bulk actions and claim next ---------------------------------------------------------------


def test_a_lead_assigns_selected_cases_to_a_member(client, world):
    signed_in(client, world["lead"])
    picked = [world["general_free"].pk, world["general_ana"].pk]

    response = client.post(
        reverse("case-bulk"),
        {"action": "assign", "case_ids": picked, "assignee": world["bob"].pk, "query": "tab=all"},
    )

    assert response.status_code == 302 and response.url == "/?tab=all"
    assert set(Case.objects.filter(pk__in=picked).values_list("assignee__username", flat=True)) == {
        "bob"
    }
    events = AuditEvent.objects.filter(action=AuditAction.CASE_ASSIGNED, actor=world["lead"])
    assert events.count() == 2
    page = client.get(response.url).content.decode()
    assert "assigned to bob." in page


def test_an_analyst_may_not_assign_cases_to_someone_else(client, world):
    signed_in(client, world["ana"])
    case = world["general_free"]
    version = case.version

    response = client.post(
        reverse("case-bulk"),
        {"action": "assign", "case_ids": [case.pk], "assignee": world["bob"].pk},
        follow=True,
    )

    case.refresh_from_db()
    assert case.assignee is None and case.version == version
    assert "Nothing was assigned: ana may not assign cases in bulk" in response.content.decode()
    assert (
        AuditEvent.objects.filter(action=AuditAction.PERMISSION_DENIED, actor=world["ana"]).count()
        == 1
    )
    assert not AuditEvent.objects.filter(action=AuditAction.CASE_ASSIGNED).exists()


def test_an_analyst_assigns_to_themselves_and_sees_what_was_refused(client, world):
    signed_in(client, world["ana"])
    mine, not_mine = world["general_free"], world["ring_free"]

    response = client.post(
        reverse("case-bulk"),
        {"action": "assign", "case_ids": [mine.pk, not_mine.pk], "assignee": world["ana"].pk},
        follow=True,
    )

    text = response.content.decode()
    assert Case.objects.get(pk=mine.pk).assignee == world["ana"]
    assert Case.objects.get(pk=not_mine.pk).assignee is None
    assert f"{mine.reference} assigned to you." in text
    assert f"no case {not_mine.reference}" in text  # another queue's: it does not exist for her


def test_the_a_shortcut_assigns_to_me_and_returns_the_refreshed_rows(client, world):
    signed_in(client, world["ana"])
    case = world["general_free"]

    response = client.post(
        reverse("case-bulk"),
        {"action": "assign_to_me", "case_ids": [case.pk], "query": "tab=unassigned"},
        **HTMX,
    )

    text = response.content.decode()
    assert response.status_code == 200 and "<html" not in text
    assert Case.objects.get(pk=case.pk).assignee == world["ana"]
    assert shown(response) == []  # it left the unassigned tab
    assert '<span id="queue-count-mine" class="queue-count" hx-swap-oob="true">3</span>' in text
    assert f"{case.reference} assigned to you." in text and 'id="queue-messages"' in text


def test_close_selected_cases_as_false_positive(client, world):
    make_reason_codes()
    signed_in(client, world["ana"])
    picked = [world["general_free"], world["general_ana"]]

    response = client.post(
        reverse("case-bulk"),
        {"action": "close_false_positive", "case_ids": [c.pk for c in picked],
         "reason_code": "customer-confirmed", "comment": "Customer called, all genuine."},
        follow=True,
    )  # fmt: skip

    for case in picked:
        case.refresh_from_db()
        assert (case.status, case.resolution) == (CaseStatus.CLOSED, "false_positive")
        assert case.closing_comment == "Customer called, all genuine."
        assert list(case.reason_codes.values_list("code", flat=True)) == ["customer-confirmed"]
    assert "closed as false positive." in response.content.decode()
    assert shown(response) == []  # both left the open list


def test_bulk_close_goes_case_by_case_keeping_what_succeeds_and_listing_each_refusal(world):
    make_reason_codes()
    open_case, closed, not_hers = world["general_free"], world["closed"], world["ring_free"]

    outcome = services.cases_bulk_close_false_positive(
        actor=world["ana"], case_ids=[open_case.pk, closed.pk, not_hers.pk],
        reason_codes=["customer-confirmed"], comment="Customer called, all genuine.",
    )  # fmt: skip

    assert [case.pk for case in outcome.changed] == [open_case.pk]
    assert len(outcome.refusals) == 2
    assert Case.objects.get(pk=open_case.pk).status == CaseStatus.CLOSED
    assert Case.objects.get(pk=not_hers.pk).status == CaseStatus.OPEN
    closings = AuditEvent.objects.filter(action=AuditAction.CASE_CLOSED)
    assert list(closings.values_list("object_id", flat=True)) == [str(open_case.pk)]


def test_closing_needs_a_reason_and_a_comment_and_a_misfit_reason_is_refused(client, world):
    make_reason_codes()
    signed_in(client, world["ana"])
    case = world["general_free"]

    missing = client.post(
        reverse("case-bulk"), {"action": "close_false_positive", "case_ids": [case.pk]}, follow=True
    )
    misfit = client.post(
        reverse("case-bulk"),
        {"action": "close_false_positive", "case_ids": [case.pk],
         "reason_code": "card-compromised", "comment": "x"},
        follow=True,
    )  # fmt: skip

    assert "needs a reason code and a comment" in missing.content.decode()
    assert "do not fit the resolution false_positive" in misfit.content.decode()
    assert Case.objects.get(pk=case.pk).status == CaseStatus.OPEN


def test_tag_selected_cases(client, world):
    signed_in(client, world["ana"])
    picked = [world["general_free"], world["general_ana"]]

    response = client.post(
        reverse("case-bulk"),
        {"action": "tag", "case_ids": [c.pk for c in picked], "tag": "Mule-Ring"},
        follow=True,
    )

    for case in picked:
        assert list(case.tags.values_list("name", flat=True)) == ["mule-ring"]
    assert "tagged mule-ring." in response.content.decode()
    assert shown(client.get("/?tab=mine&tag=mule-ring")) == [world["general_ana"].pk]


def test_a_bulk_action_without_a_selection_changes_nothing(client, world):
    signed_in(client, world["ana"])

    response = client.post(reverse("case-bulk"), {"action": "assign_to_me"}, follow=True)

    assert "select at least one case" in response.content.decode()
    assert (
        not Case.objects.filter(assignee=world["ana"])
        .exclude(pk__in=[world["general_ana"].pk, world["ring_ana"].pk])
        .exists()
    )


def test_claim_next_opens_the_claimed_case(client, world):
    signed_in(client, world["bob"])
    set_case(world["ring_free"], priority=90)

    response = client.post(reverse("case-claim-next"))

    assert response.status_code == 302
    assert response.url == f"/cases/{world['ring_free'].reference}/"
    assert Case.objects.get(pk=world["ring_free"].pk).assignee == world["bob"]


def test_claim_next_with_nothing_waiting_says_so(client, world):
    signed_in(client, world["ana"])
    Case.objects.filter(assignee__isnull=True).update(assignee=world["bob"])

    response = client.post(reverse("case-claim-next"), follow=True)

    assert response.redirect_chain == [("/", 302)]
    assert "Nothing is waiting in your queues" in response.content.decode()


def test_an_auditor_reads_every_case_but_cannot_claim(client, world):
    auditor = make_user("aud", "auditor")
    signed_in(client, auditor)

    page = client.get("/")
    refused = client.post(reverse("case-claim-next"), follow=True)

    assert page.status_code == 200 and len(shown(page)) == 4
    assert "Claim next" not in page.content.decode()
    assert refused.status_code == 403  # checked before anything else
    assert "aud may not work cases" in refused.content.decode()


# --- safety and cost ---------------------------------------------------------------------------


def test_text_from_s3_is_escaped(client, world):
    signed_in(client, world["lead"])
    case = make_case(world["general"], account_id="<script>alert(1)</script>")
    Transaction.objects.filter(case=case).update(merchant="<script>alert(2)</script>", country="<b")

    page = client.get("/?tab=all").content.decode()

    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<script>alert" not in page and "<b<" not in page
    found = client.get("/", {"tab": "all", "q": "<script>"}).content.decode()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in found and "<script>alert" not in found


def test_row_texts_made_in_the_view_match_the_shared_templates_and_reverse(client, world):
    """The rows' amounts and account links are made once per page (not by an include and a
    url tag per row): the same markup as cases/_case_amount.html, the same URL as reverse()."""
    from django.template.loader import render_to_string
    from django.utils.html import escape

    from cases.http import url_for_each

    signed_in(client, world["lead"])
    general = world["general"]
    cases = [
        set_case(make_case(general, account_id="acc plain"), currency="EUR"),
        set_case(
            make_case(general, account_id="acc/with space & ü"), currency="USD",
            amount_at_risk=Decimal("1234567.5"), amount_reporting=Decimal("1100000.25"),
        ),
        set_case(
            make_case(general, account_id="acc.mixed:1@x~y"), currency="",
            amount_at_risk=Decimal("300.00"), amount_reporting=Decimal("290.10"),
        ),
        set_case(make_case(general, account_id="..", transactions=1), rate_missing=True),
    ]  # fmt: skip

    page = client.get("/?tab=all").content.decode()

    for case in cases:
        row = re.search(rf'<tr class="queue-row" data-case-id="{case.pk}".*?</tr>', page, re.S)
        cell = re.search(r'<td class="queue-num queue-amount">(.*?)</td>', row.group(0), re.S)
        expected = render_to_string("cases/_case_amount.html", {"case": case})
        assert cell.group(1) == expected.strip()
        link = escape(reverse("account-detail", args=[case.account_id]))
        assert f'<a href="{link}">' in row.group(0)
    assert "(1,234,567.50 USD)" in page and "(several currencies)" in page and "no rate" in page

    account_url, ip_url = url_for_each("account-detail"), url_for_each("ip-detail")
    for value in ("acc_1", "a/b c", "ä", "..", "x%20y", "a?b#c", "A-z.0~:@"):
        assert account_url(value) == reverse("account-detail", args=[value])
    for value in ("81.2.69.1", "2001:db8::1"):
        assert ip_url(value) == reverse("ip-detail", args=[value])


def test_empty_queue_says_how_to_ingest(client):
    signed_in(client, make_user("ana", "analyst"))

    page = client.get("/").content.decode()

    assert "No cases yet" in page and "python manage.py ingest s3://bucket/prefix" in page


def _queue_queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    return len(queries)


def test_the_query_count_does_not_grow_with_the_rows_shown(
    client, world, django_assert_max_num_queries
):
    lead = world["lead"]
    signed_in(client, lead)
    tag = Tag.objects.create(name="ring")

    def add_cases(count: int) -> None:
        for index in range(count):
            case = make_case(
                world["general"], transactions=2, assignee=(lead, world["ana"], None)[index % 3]
            )
            case.tags.add(tag)

    filtered = "/?tab=all&q=acc_w&country=DE&tag=ring&sort=country"
    add_cases(1)
    # 20: the user's saved views are a fixed query of the page; the filters' queues are the
    # tabs' (one query for both).
    with django_assert_max_num_queries(20):
        few = client.get(filtered)
    assert len(shown(few)) == 1
    few_queries = {
        url: _queue_queries(client, url) for url in ("/?tab=all", "/cases/?tab=all", filtered)
    }

    add_cases(39)
    with django_assert_max_num_queries(20):
        many = client.get(filtered)
    assert len(shown(many)) == 40

    many_queries = {url: _queue_queries(client, url) for url in few_queries}
    assert many_queries == few_queries
    # With a filter set the total needs its own count; without, the tab's count is the total.
    assert few_queries[filtered] == few_queries["/?tab=all"] + 1


def test_the_queue_filter_offers_the_tabs_queues_in_their_order(client, world):
    """The filter's queue choices are taken from the tabs (one query for both): an analyst's
    own queues, a lead's every queue, in routing order."""
    from cases.models import Queue

    in_order = Queue.objects.order_by("routing_order", "name")
    for user, queues in (
        (world["ana"], in_order.filter(members=world["ana"])),
        (world["bob"], in_order.filter(members=world["bob"])),
        (world["lead"], in_order),
    ):
        signed_in(client, user)
        page = client.get("/").content.decode()
        select = re.search(r'<select name="queue".*?</select>', page, re.S).group(0)
        offered = re.findall(r'<option value="(\d+)"[^>]*>([^<]+)</option>', select)
        assert offered == [(str(q.pk), q.name) for q in queues]
    assert len(in_order) == 2 and len(in_order.filter(members=world["ana"])) == 1


def test_tab_counts_come_from_one_query(world):
    from cases.queue.selectors import queue_tab_counts, queue_tabs

    tabs = queue_tabs(user=world["lead"])
    with CaptureQueriesContext(connection) as queries:
        counts = queue_tab_counts(user=world["lead"], tabs=tabs)

    assert len(queries) == 1
    assert counts == {
        "mine": 0, "unassigned": 2, f"queue-{world['general'].pk}": 2,
        f"queue-{world['ring'].pk}": 2, "unrouted": 0, "all": 4,
    }  # fmt: skip


def test_opened_dates_are_days_in_utc(client, world):
    signed_in(client, world["lead"])
    set_case(world["general_free"], opened_at=datetime(2026, 3, 1, 23, 59, tzinfo=UTC))
    set_case(world["ring_free"], opened_at=datetime(2026, 3, 2, 0, 0, tzinfo=UTC))

    first_day = client.get("/?tab=all&opened_from=2026-03-01&opened_to=2026-03-01")

    assert shown(first_day) == [world["general_free"].pk]


def test_out_of_range_input_is_refused_not_a_server_error(client, world):
    signed_in(client, world["lead"])
    huge = "9" * 30

    for query in (
        f"tab=queue-{huge}", f"assignee={huge}", f"page={huge}", "opened_to=9999-12-31",
        f"q={huge}", "sort=-", "score_min=nan", "amount_min=1e999",
    ):  # fmt: skip
        assert client.get(f"/?{query}").status_code in (200, 400), query
    bulk = client.post(
        reverse("case-bulk"),
        {"action": "assign", "case_ids": [huge], "assignee": huge},
        follow=True,
    )
    assert bulk.status_code == 200 and "no such case id" in bulk.content.decode()


def test_the_neighbour_verdict_is_a_column_and_a_sort_key(client, world, varied):
    signed_in(client, world["lead"])
    scores = [0.9, None, 0.1] + [None] * (len(varied) - 3)
    for case, score in zip(varied, scores, strict=True):
        summary = None if score is None else {"fraud": round(score * 10), "labelled": 10}
        Case.objects.filter(pk=case.pk).update(
            neighbour_fraud_score=score, neighbour_summary=summary
        )

    page = client.get("/?tab=all&sort=-neighbours")
    rows = shown(page)

    assert rows[:2] == [varied[0].pk, varied[2].pk]  # nulls last
    assert "9/10 fraud" in page.content.decode() and "1/10 fraud" in page.content.decode()
    assert "Nearest labelled neighbours that were fraud" in page.content.decode()
