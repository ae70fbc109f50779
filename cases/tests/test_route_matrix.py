"""Every route x every role x its method: allowed or refused as the read policy and the roles
say, a refusal changes nothing, and another queue's case is a 404 like a case that does not
exist. A route missing from ROUTES fails test_every_route_is_in_the_matrix.
"""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import get_resolver, reverse

from analytics.models import CurationSnapshot
from cases.accounts.tokens import api_token_create
from cases.models import (
    ApiToken,
    Attachment,
    AuditAction,
    AuditEvent,
    Case,
    CaseStatus,
    CaseWatcher,
    LabelVersion,
    Note,
    Notification,
    Queue,
    ReasonCode,
    RingSnapshot,
    SavedQueueView,
    Transaction,
)
from cases.queue.services import saved_view_create
from cases.tests.workflow_fixtures import make_case, make_queue, make_reason_codes, make_user
from cases.workflow import services
from conftest import built_once_per_module, fresh_copy, signed_in

pytestmark = pytest.mark.django_db

ROLES = ("anonymous", "nobody", "analyst", "outsider", "auditor", "lead", "admin")
# What a request may come to:
OK = "ok"  # done, or answered (200 or a redirect that is not to the sign-in page)
LOGIN = "login"  # sent to sign in
DENIED = "403"
HIDDEN = "404"  # the case does not exist for this user
NOT_THEIRS = HIDDEN  # another user's token: a 404 too (checked as such, not as a case)

EVERYONE_SIGNED_IN = {"nobody": OK, "analyst": OK, "outsider": OK, "auditor": OK, "lead": OK, "admin": OK}  # fmt: skip
READERS = {"nobody": DENIED, "analyst": OK, "outsider": OK, "auditor": OK, "lead": OK, "admin": OK}  # fmt: skip
CASE_READERS = {**READERS, "outsider": HIDDEN}
CASE_WORKERS = {**CASE_READERS, "auditor": DENIED}
CASE_LEADS = {**CASE_WORKERS, "analyst": DENIED}
QUEUE_WORKERS = {**READERS, "auditor": DENIED}
LEADS = {"nobody": DENIED, "analyst": DENIED, "outsider": DENIED, "auditor": DENIED, "lead": OK, "admin": OK}  # fmt: skip
AUDITORS = {**LEADS, "auditor": OK, "lead": DENIED}
TEAM_ANALYTICS = {**LEADS, "auditor": OK}  # the team's dashboards; analysts see their own figures


def _case(world) -> dict:
    return {"reference": world["case"].reference}


# name: (method, URL kwargs, request data, expected outcome per signed-in role)
ROUTES = {
    "login": ("get", None, None, {**EVERYONE_SIGNED_IN, "anonymous": OK}),
    # Signing out ends on the sign-in page, whoever asks.
    "logout": ("post", None, None, dict.fromkeys(ROLES, LOGIN)),
    "two-factor": ("get", None, None, EVERYONE_SIGNED_IN),
    "add-authenticator": ("get", None, None, EVERYONE_SIGNED_IN),
    "lockouts": ("get", None, None, LEADS),
    # Everyone manages their own API tokens; another's token is a 404 (admins manage any).
    "account-tokens": ("get", None, None, EVERYONE_SIGNED_IN),
    "account-token-revoke": (
        "post",
        lambda w: {"token_id": w["analyst_token"].pk},
        None,
        {**dict.fromkeys(EVERYONE_SIGNED_IN, NOT_THEIRS), "analyst": OK, "admin": OK},
    ),
    "unlock-user": ("post", None, lambda w: {"username": "ana"}, LEADS),
    "home": ("get", None, None, READERS),
    "case-queue": ("get", None, None, READERS),
    "overview": ("get", None, None, READERS),
    "ingest-runs": ("get", None, None, READERS),
    "audit-trail": ("get", None, None, AUDITORS),
    "audit-export": ("get", None, lambda w: {"start": "2026-01-01", "end": "2026-12-31"}, AUDITORS),
    "held-labels": ("get", None, None, LEADS),
    "held-label-review": (
        "post",
        lambda w: {"version_id": w["held"].pk},
        lambda w: {"decision": "approve"},
        LEADS,
    ),
    "labels-quarantine": (
        "post",
        None,
        lambda w: {
            "analyst": "ana",
            "start": "2026-01-01T00:00",
            "end": "2030-12-31T00:00",
            "reason": "check",
        },
        LEADS,
    ),  # fmt: skip
    "labels-release": (
        "post",
        None,
        lambda w: {
            "analyst": "ana",
            "start": "2026-01-01T00:00",
            "end": "2030-12-31T00:00",
            "reason": "ok",
        },
        LEADS,
    ),  # fmt: skip
    "ip-detail": ("get", lambda w: {"ip": "81.2.69.7"}, None, READERS),
    # An account or device none of whose cases the user may read does not exist for them.
    "account-detail": ("get", lambda w: {"account_id": w["case"].account_id}, None, CASE_READERS),
    "device-detail": ("get", lambda w: {"device_id": w["tx"].device_id}, None, CASE_READERS),
    "ip-map": ("get", None, None, READERS),
    "analytics": ("get", None, None, READERS),
    "analytics-quality": ("get", None, None, TEAM_ANALYTICS),
    "analytics-drift": ("get", None, None, TEAM_ANALYTICS),
    "analytics-money": ("get", None, None, TEAM_ANALYTICS),
    "analytics-curation": ("get", None, None, TEAM_ANALYTICS),
    # The curation page's computation in the background: its status (JSON) and its retry.
    "analytics-curation-status": ("get", None, None, TEAM_ANALYTICS),
    "analytics-curation-retry": (
        "post",
        None,
        lambda w: {"since": "2026-01-01", "until": "2026-01-31"},
        TEAM_ANALYTICS,
    ),  # fmt: skip
    "analytics-operations": ("get", None, None, READERS),
    "analytics-labels": ("get", None, None, READERS),
    "case-claim-next": ("post", None, None, QUEUE_WORKERS),
    # Bulk actions go case by case: another queue's case is refused inside (nothing changes).
    "case-bulk": (
        "post",
        None,
        lambda w: {"action": "assign_to_me", "case_ids": [w["case"].pk]},
        {**QUEUE_WORKERS, "outsider": OK},
    ),  # fmt: skip
    # Leads manage queues and reason codes (cases/queueadmin/).
    "manage-queues": ("get", None, None, LEADS),
    "manage-queue-new": (
        "post",
        None,
        lambda w: {"name": "Cards", "sla_hours": 6, "routing_order": 5, "outcomes": ["block"]},
        LEADS,
    ),  # fmt: skip
    "manage-queue-edit": (
        "get",
        lambda w: {"queue_id": Queue.objects.get(name="General").pk},
        None,
        LEADS,
    ),  # fmt: skip
    "manage-reason-codes": (
        "post",
        None,
        lambda w: {"code": "chargeback", "label": "Chargeback", "active": "on"},
        LEADS,
    ),  # fmt: skip
    "rings": ("get", None, None, READERS),
    "queue-view-save": (
        "post",
        None,
        lambda w: {"name": "Breached", "query": "sla_breached=1"},
        READERS,
    ),
    "notifications": ("get", None, None, READERS),
    "notifications-badge": ("get", None, None, READERS),
    "notifications-read": ("post", None, None, READERS),
    # Notifications are their recipient's: another user's is a 404.
    "notification-open": (
        "post",
        lambda w: {"notification_id": w["notification"].pk},
        None,
        {**dict.fromkeys(EVERYONE_SIGNED_IN, NOT_THEIRS), "nobody": DENIED, "analyst": OK},
    ),
    "case-follow": ("post", _case, None, CASE_READERS),
    "case-unfollow": ("post", _case, None, CASE_READERS),
    # Saved views are their owner's: another user's is a 404.
    "queue-view-delete": (
        "post",
        lambda w: {"view_id": w["analyst_view"].pk},
        None,
        {**dict.fromkeys(EVERYONE_SIGNED_IN, NOT_THEIRS), "nobody": DENIED, "analyst": OK},
    ),
    "rings-refresh": ("post", None, None, LEADS),
    "case-links": ("get", _case, None, CASE_READERS),
    "case-detail": ("get", _case, None, CASE_READERS),
    "case-report-pdf": ("get", _case, None, CASE_READERS),
    "case-export-csv": ("get", _case, None, CASE_READERS),
    "case-why-flagged": ("get", _case, lambda w: {"transaction": w["tx"].pk}, CASE_READERS),
    "case-attachment-download": (
        "get",
        lambda w: {**_case(w), "attachment_id": w["attachment"].pk},
        None,
        CASE_READERS,
    ),
    "case-assign-to-me": ("post", _case, None, CASE_WORKERS),
    "case-assign": ("post", _case, lambda w: {"assignee_id": w["lead"].pk}, CASE_LEADS),
    "case-unassign": ("post", _case, None, CASE_LEADS),
    "case-transition": ("post", _case, lambda w: {"to_status": "in_review"}, CASE_WORKERS),
    "case-close": (
        "post",
        _case,
        lambda w: {
            "resolution": "inconclusive",
            "reason_codes": ["insufficient-evidence"],
            "comment": "done",
        },
        CASE_WORKERS,
    ),  # fmt: skip
    "case-reopen": (
        "post",
        lambda w: {"reference": w["closed"].reference},
        lambda w: {"reason": "new evidence"},
        CASE_LEADS,
    ),  # fmt: skip
    "case-merge": (
        "post",
        _case,
        lambda w: {"target": w["sibling"].reference, "justification": "same ring"},
        CASE_LEADS,
    ),  # fmt: skip
    "case-add-note": ("post", _case, lambda w: {"body": "a note"}, CASE_WORKERS),
    "case-tags": ("post", _case, lambda w: {"add": "ato"}, CASE_WORKERS),
    "case-attach": (
        "post",
        _case,
        lambda w: {"file": SimpleUploadedFile("n.txt", b"evidence", "text/plain")},
        CASE_WORKERS,
    ),  # fmt: skip
    "case-transaction-verdict": (
        "post",
        _case,
        lambda w: {"transaction_id": w["tx"].transaction_id, "decision": "block"},
        CASE_WORKERS,
    ),  # fmt: skip
}


def route_names() -> set[str]:
    """Every named page of the site but Django's admin (tested through its own pages) and the
    REST API (its own matrix, per role and token scope)."""
    names = set()

    def walk(patterns):
        for pattern in patterns:
            if hasattr(pattern, "url_patterns"):
                if getattr(pattern, "namespace", None) != "admin":
                    walk(pattern.url_patterns)
            elif pattern.name and not pattern.name.startswith("api-"):
                names.add(pattern.name)  # the API has its own matrix (test_api_matrix.py)

    walk(get_resolver().url_patterns)
    return names


def test_every_route_is_in_the_matrix():
    assert route_names() == set(ROUTES)


@pytest.fixture(scope="module")
def built_world(django_db_setup, django_db_blocker, s3):
    yield from built_once_per_module(build_world, django_db_blocker)


@pytest.fixture
def world(built_world, db):
    """The same rows for every test, each test's changes rolled back (conftest)."""
    return fresh_copy(built_world)


def build_world():
    analyst = make_user("ana", "analyst")
    outsider = make_user("olga", "analyst")  # works another queue
    lead = make_user("lea", "lead")
    second_lead = make_user("leo", "lead")
    general = make_queue("General", analyst, is_default=True)
    make_queue("High risk", outsider)
    make_reason_codes()
    case = make_case(general, transactions=2)
    Transaction.objects.filter(case=case).update(source_ip="81.2.69.7")
    services.case_attach_file(
        actor=analyst, case_id=case.pk, filename="proof.txt", content=b"proof", content_type="text/plain",
    )  # fmt: skip
    labelled = make_case(general, status=CaseStatus.IN_REVIEW, transactions=1).transactions.get()
    services.transaction_label(actor=analyst, transaction_id=labelled.transaction_id, label="fraud")
    from cases.labels.services.export import labels_export_pending

    labels_export_pending()
    services.transaction_label(
        actor=analyst, transaction_id=labelled.transaction_id, label="legitimate"
    )
    return {
        "analyst": analyst,
        "outsider": outsider,
        "nobody": make_user("nobody"),
        "auditor": make_user("audrey", "auditor"),
        "lead": lead,
        "second_lead": second_lead,
        "admin": make_user("adam", "admin"),
        "case": Case.objects.get(pk=case.pk),
        "tx": case.transactions.order_by("pk").first(),
        "attachment": Attachment.objects.get(case=case),
        "closed": make_case(general, status=CaseStatus.CLOSED, resolution="inconclusive"),
        "sibling": make_case(general),
        "held": LabelVersion.objects.get(status="held"),
        "analyst_view": saved_view_create(actor=analyst, name="Mine", query="tab=mine"),
        "notification": Notification.objects.create(
            recipient=analyst, kind="mention", case=case, message="lea mentioned you"
        ),
        "analyst_token": api_token_create(
            actor=analyst, user_id=analyst.pk, name="sync", scope="read"
        ).token,
    }


def state() -> tuple:
    """Everything a route could change, to prove that a refusal changed nothing."""
    return (
        tuple(
            Case.objects.order_by("pk").values_list(
                "pk", "status", "version", "assignee_id", "resolution", "merged_into_id"
            )
        ),
        tuple(Transaction.objects.order_by("pk").values_list("pk", "decision", "label", "case_id")),
        tuple(LabelVersion.objects.order_by("pk").values_list("pk", "status")),
        tuple(Case.tags.through.objects.order_by("pk").values_list("case_id", "tag_id")),
        Note.objects.count(),
        Attachment.objects.count(),
        Queue.objects.count(),
        ReasonCode.objects.count(),
        RingSnapshot.objects.count(),
        tuple(ApiToken.objects.order_by("pk").values_list("pk", "revoked_at")),
        tuple(SavedQueueView.objects.order_by("pk").values_list("pk", "user_id", "name")),
        tuple(Notification.objects.order_by("pk").values_list("pk", "read_at")),
        tuple(CaseWatcher.objects.order_by("pk").values_list("case_id", "user_id")),
        tuple(CurationSnapshot.objects.order_by("pk").values_list("pk", "status", "requested_at")),
    )


def client_as(role: str, world) -> Client:
    client = Client()
    if role == "anonymous":
        return client
    return signed_in(client, world[role])


def outcome_of(response) -> str:
    if response.status_code in (302, 303) and response.url.startswith(reverse("login")):
        return LOGIN
    if response.status_code in (200, 302, 303):
        return OK
    return str(response.status_code)


CASES = [(name, role) for name in ROUTES for role in ROLES]


@pytest.mark.parametrize(("name", "role"), CASES, ids=[f"{n}-{r}" for n, r in CASES])
def test_route_for_role(world, name, role):
    method, kwargs, data, expected_by_role = ROUTES[name]
    expected = LOGIN if role == "anonymous" and role not in expected_by_role else None
    expected = expected or expected_by_role[role]
    url = reverse(name, kwargs=kwargs(world) if kwargs else None)
    client = client_as(role, world)
    before = state()
    denials_before = AuditEvent.objects.filter(action=AuditAction.PERMISSION_DENIED).count()

    response = getattr(client, method)(url, data(world) if data else {})

    assert outcome_of(response) == expected, (response.status_code, response.content[:600])
    if expected != OK:
        assert state() == before, f"a refused {method.upper()} {name} by {role} changed something"
    if expected == HIDDEN and name.startswith(("account-token", "queue-view", "notification")):
        assert ApiToken.objects.filter(revoked_at__isnull=True).count() == 1
        assert SavedQueueView.objects.count() == 1
    elif expected == HIDDEN:
        body = response.content.decode()
        said = {"account-detail": "No such account", "device-detail": "No such device"}
        assert said.get(name, "There is no case") in body
        assert world["case"].account_id not in body and world["tx"].device_id not in body
        denial = AuditEvent.objects.filter(action=AuditAction.PERMISSION_DENIED).last()
        assert denial.actor == world[role] and denial.after["error"] == "not_visible"
    if expected == DENIED:
        assert (
            AuditEvent.objects.filter(action=AuditAction.PERMISSION_DENIED).count()
            == denials_before + 1
        ), "a 403 is audited"


@pytest.mark.parametrize("role", ["analyst", "lead", "auditor", "admin", "nobody", "superuser"])
def test_the_admin_site_is_for_superusers_only(world, role):
    if role == "superuser":
        world[role] = make_user("root")
        world[role].is_staff = world[role].is_superuser = True
        world[role].save()
    response = client_as(role, world).get("/admin/auth/user/")

    if role == "superuser":
        assert response.status_code == 200
    else:
        assert response.status_code == 302 and "/admin/login/" in response.url
