"""Case workflow services: statuses, closing, assignment, merge, notes, tags, attachments."""

import threading

import pytest
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection

from cases.errors import (
    ActionNotPermitted,
    InvalidInput,
    NotFound,
    StaleVersion,
    TransitionNotAllowed,
)
from cases.models import AuditAction, AuditEvent, Case, CaseStatus, Note, Transaction
from cases.tests.workflow_fixtures import make_case, make_queue, make_reason_codes, make_user
from cases.workflow import services
from cases.workflow.services.lifecycle import TRANSITIONS

pytestmark = pytest.mark.django_db


@pytest.fixture
def team():
    analyst = make_user("ana", "analyst")
    other_analyst = make_user("otto", "analyst")
    lead = make_user("lea", "lead")
    queue = make_queue("General", analyst, other_analyst, sla_hours=8, is_default=True)
    make_reason_codes()
    return analyst, other_analyst, lead, queue


def events(action) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action).order_by("id"))


@pytest.mark.parametrize("start", [s for s in CaseStatus.values if s != CaseStatus.MERGED])
@pytest.mark.parametrize(
    "target", [s for s in CaseStatus.values if s not in (CaseStatus.CLOSED, CaseStatus.MERGED)]
)
def test_every_transition_is_allowed_or_refused_per_the_graph(team, start, target):
    analyst, _, _, queue = team
    case = make_case(queue, status=start)

    if target in TRANSITIONS[start]:
        services.case_transition(
            actor=analyst, case_id=case.pk, to_status=target, expected_version=1
        )
        case.refresh_from_db()
        assert (case.status, case.version) == (target, 2)
        [event] = events(AuditAction.CASE_STATUS_CHANGED)
        after = {"status": target, "version": 2}
        if target == CaseStatus.WAITING_ON_CUSTOMER:  # with the customer's reply date
            after["waiting_until"] = DjangoJSONEncoder().default(case.waiting_until)
        assert (event.before, event.after) == ({"status": start}, after)
    else:
        with pytest.raises(TransitionNotAllowed):
            services.case_transition(actor=analyst, case_id=case.pk, to_status=target)
        case.refresh_from_db()
        assert (case.status, case.version) == (start, 1)
        [refusal] = events(AuditAction.REFUSED)
        assert refusal.after["error"] == "transition_not_allowed" and refusal.object_id == str(
            case.pk
        )


def test_closing_needs_resolution_reasons_and_comment(team):
    analyst, _, _, queue = team
    case = make_case(queue, status=CaseStatus.IN_REVIEW)
    attempts = [
        (
            {"resolution": "", "reason_codes": ["insufficient-evidence"], "comment": "x"},
            "a resolution is required",
        ),
        (
            {"resolution": "false_positive", "reason_codes": [], "comment": "x"},
            "at least one reason code",
        ),
        (
            {"resolution": "false_positive", "reason_codes": ["nope"], "comment": "x"},
            r"unknown or retired reason code\(s\): nope",
        ),
        (
            {"resolution": "false_positive", "reason_codes": ["retired"], "comment": "x"},
            "unknown or retired",
        ),
        (
            {"resolution": "false_positive", "reason_codes": ["card-compromised"], "comment": "x"},
            "do not fit the resolution",
        ),
        (
            {
                "resolution": "false_positive",
                "reason_codes": ["customer-confirmed"],
                "comment": "  ",
            },
            "needs a comment",
        ),
    ]
    for kwargs, message in attempts:
        with pytest.raises(InvalidInput, match=message):
            services.case_close(actor=analyst, case_id=case.pk, **kwargs)

    case.refresh_from_db()
    assert (case.status, case.version, case.resolution) == (CaseStatus.IN_REVIEW, 1, "")
    assert len(events(AuditAction.REFUSED)) == len(attempts)


def test_closing_applies_resolution_defaults_but_keeps_decisions_made_one_by_one(team):
    analyst, _, _, queue = team
    case = make_case(queue, status=CaseStatus.IN_REVIEW, transactions=3)
    services.transaction_decide(
        actor=analyst,
        transaction_id=f"{case.transactions.first().transaction_id}",
        decision="block",
    )
    services.transaction_label(
        actor=analyst, transaction_id=f"{case.transactions.first().transaction_id}", label="fraud"
    )

    services.case_close(actor=analyst, case_id=case.reference, resolution="false_positive",
                        reason_codes=["customer-confirmed", "insufficient-evidence"], comment="Customer called.",
                        expected_version=1)  # fmt: skip

    case.refresh_from_db()
    assert (case.status, case.resolution, case.version) == (CaseStatus.CLOSED, "false_positive", 2)
    assert case.closed_at is not None
    assert sorted(case.reason_codes.values_list("code", flat=True)) == [
        "customer-confirmed",
        "insufficient-evidence",
    ]
    verdicts = sorted(case.transactions.values_list("decision", "label"))
    assert verdicts == [("approve", "legitimate"), ("approve", "legitimate"), ("block", "fraud")]
    assert len(events(AuditAction.TRANSACTION_DECIDED)) == 3  # one by hand, two by default
    assert len(events(AuditAction.TRANSACTION_LABELLED)) == 3
    [closed] = events(AuditAction.CASE_CLOSED)
    assert closed.after["resolution"] == "false_positive" and closed.actor == analyst
    with pytest.raises(TransitionNotAllowed, match="reopen it"):
        services.transaction_label(
            actor=analyst,
            transaction_id=case.transactions.first().transaction_id,
            label="legitimate",
        )


def test_reopen_is_a_leads_call_and_refused_when_the_account_has_another_open_case(team):
    analyst, _, lead, queue = team
    case = make_case(queue, status=CaseStatus.CLOSED, resolution="inconclusive")

    with pytest.raises(ActionNotPermitted):
        services.case_reopen(actor=analyst, case_id=case.pk, reason="more evidence")
    assert events(AuditAction.PERMISSION_DENIED)[0].actor == analyst

    newer = make_case(queue, account_id=case.account_id)
    with pytest.raises(TransitionNotAllowed, match=f"already has the open case {newer.reference}"):
        services.case_reopen(actor=lead, case_id=case.pk, reason="more evidence")
    Case.objects.filter(pk=newer.pk).update(status=CaseStatus.CLOSED)

    services.case_reopen(actor=lead, case_id=case.pk, reason="more evidence")
    case.refresh_from_db()
    assert (case.status, case.resolution, case.closed_at) == (CaseStatus.IN_REVIEW, "", None)
    assert events(AuditAction.CASE_REOPENED)[0].after["reason"] == "more evidence"


def test_stale_version_is_a_conflict_and_nothing_is_half_applied(team):
    analyst, other, _, queue = team
    case = make_case(queue)
    services.case_assign_to_me(actor=analyst, case_id=case.pk, expected_version=1)

    with pytest.raises(StaleVersion, match="changed by someone else"):
        services.case_transition(
            actor=other, case_id=case.pk, to_status="in_review", expected_version=1
        )

    case.refresh_from_db()
    assert (case.status, case.version, case.assignee) == (CaseStatus.OPEN, 2, analyst)
    assert events(AuditAction.REFUSED)[0].after["error"] == "stale_version"


def test_unknown_case_is_not_found_and_audited(team):
    analyst = team[0]
    for reference in ("FC-999999", 999999):
        with pytest.raises(NotFound, match="no case FC-999999"):
            services.case_assign_to_me(actor=analyst, case_id=reference)
    with pytest.raises(InvalidInput, match="not a case reference"):
        services.case_assign_to_me(actor=analyst, case_id="XY-1")
    assert len(events(AuditAction.REFUSED)) == 3


def test_assignment_rules(team):
    analyst, other, lead, queue = team
    outsider = make_user("olga", "analyst")
    case = make_case(queue)

    with pytest.raises(NotFound, match=f"no case {case.reference}"):  # not theirs to see
        services.case_assign_to_me(actor=outsider, case_id=case.pk)
    with pytest.raises(ActionNotPermitted, match="assign cases to others"):
        services.case_assign(actor=analyst, case_id=case.pk, assignee_id=other.pk)
    with pytest.raises(InvalidInput, match="not a member of its queue"):
        services.case_assign(actor=lead, case_id=case.pk, assignee_id=outsider.pk)
    services.case_assign(actor=lead, case_id=case.pk, assignee_id=other.pk)
    with pytest.raises(ActionNotPermitted):
        services.case_unassign(actor=analyst, case_id=case.pk)
    services.case_unassign(actor=other, case_id=case.pk)

    case.refresh_from_db()
    assert case.assignee is None and case.version == 3
    assert [e.action for e in AuditEvent.objects.filter(object_id=str(case.pk), action__startswith="case_")] == [
        "case_assigned", "case_unassigned",
    ]  # fmt: skip
    assert (
        len(events(AuditAction.PERMISSION_DENIED)) == 3
    )  # outsider, analyst assigning, analyst unassigning


def test_bulk_assign_is_all_or_nothing(team):
    analyst, other, lead, queue = team
    elsewhere = make_queue("Elsewhere")
    cases = [make_case(queue), make_case(queue), make_case(elsewhere)]

    with pytest.raises(InvalidInput, match="not a member of its queue"):
        services.cases_bulk_assign(
            actor=lead, case_ids=[c.pk for c in cases], assignee_id=analyst.pk
        )
    assert Case.objects.filter(assignee__isnull=False).count() == 0

    services.cases_bulk_assign(
        actor=lead, case_ids=[c.pk for c in cases[:2]], assignee_id=analyst.pk
    )
    assert Case.objects.filter(assignee=analyst).count() == 2
    with pytest.raises(ActionNotPermitted):
        services.cases_bulk_assign(actor=analyst, case_ids=[cases[0].pk], assignee_id=other.pk)


def test_claim_next_takes_the_highest_priority_unassigned_case_in_my_queues(team):
    analyst, _, _, queue = team
    elsewhere = make_queue("Elsewhere")
    low, high = make_case(queue), make_case(queue)
    Case.objects.filter(pk=low.pk).update(priority=10)
    Case.objects.filter(pk=high.pk).update(priority=90)
    Case.objects.filter(pk=make_case(elsewhere).pk).update(priority=99)

    assert services.case_claim_next(actor=analyst).pk == high.pk
    assert services.case_claim_next(actor=analyst).pk == low.pk
    assert services.case_claim_next(actor=analyst) is None


@pytest.mark.django_db(transaction=True)
def test_two_analysts_claiming_at_once_get_different_cases():
    analysts = [make_user("ana", "analyst"), make_user("otto", "analyst")]
    queue = make_queue("General", *analysts)
    made = [make_case(queue) for _ in range(2)]
    Case.objects.filter(pk__in=[c.pk for c in made]).update(priority=50)
    barrier = threading.Barrier(2)
    claimed, errors = {}, []

    def claim(analyst):
        try:
            barrier.wait()
            claimed[analyst.username] = services.case_claim_next(actor=analyst).pk
        except Exception as exc:  # surfaced below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=claim, args=(analyst,)) for analyst in analysts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert errors == []
    assert sorted(claimed.values()) == sorted(c.pk for c in made)
    assert {c.assignee.username for c in Case.objects.filter(pk__in=claimed.values())} == {
        "ana",
        "otto",
    }


def test_merge_moves_the_work_and_leaves_a_pointer(team):
    analyst, _, lead, queue = team
    source, target = make_case(queue, transactions=2), make_case(queue, transactions=1)
    services.case_add_note(
        actor=analyst, case_id=source.pk, body="Shares a device with the other account."
    )
    services.case_set_tags(actor=analyst, case_id=source.pk, add=["mule-ring"])

    with pytest.raises(ActionNotPermitted):
        services.case_merge(
            actor=analyst, source_case_id=source.pk, target_case_id=target.pk, justification="x"
        )
    with pytest.raises(InvalidInput, match="justification"):
        services.case_merge(
            actor=lead, source_case_id=source.pk, target_case_id=target.pk, justification=" "
        )
    with pytest.raises(InvalidInput, match="into itself"):
        services.case_merge(
            actor=lead, source_case_id=source.pk, target_case_id=source.pk, justification="x"
        )
    merged = services.case_merge(actor=lead, source_case_id=source.pk, target_case_id=target.pk,
                                 justification="Same device and IP.")  # fmt: skip

    source.refresh_from_db()
    assert (source.status, source.merged_into_id, source.transaction_count) == (
        CaseStatus.MERGED,
        target.pk,
        0,
    )
    assert merged.transaction_count == 3 and merged.transactions.count() == 3
    assert Note.objects.get().case_id == target.pk
    assert list(merged.tags.values_list("name", flat=True)) == ["mule-ring"]
    assert [e.object_id for e in events(AuditAction.CASE_MERGED)] == [
        str(source.pk),
        str(target.pk),
    ]
    assert events(AuditAction.CASE_MERGED)[0].after["moved"] == {
        "transactions": 2,
        "notes": 1,
        "attachments": 0,
    }
    with pytest.raises(TransitionNotAllowed, match="only open cases merge"):
        services.case_merge(
            actor=lead, source_case_id=source.pk, target_case_id=target.pk, justification="again"
        )


def test_notes_and_tags(team):
    analyst, _, _, queue = team
    case = make_case(queue)

    note = services.case_add_note(
        actor=analyst, case_id=case.pk, body="  **Called** the customer.  "
    )
    with pytest.raises(InvalidInput, match="cannot be empty"):
        services.case_add_note(actor=analyst, case_id=case.pk, body="   ")
    with pytest.raises(InvalidInput, match="must be lower-case"):
        services.case_set_tags(actor=analyst, case_id=case.pk, add=["Bad Tag!"])
    services.case_set_tags(actor=analyst, case_id=case.pk, add=["ATO", "vip"])
    services.case_set_tags(actor=analyst, case_id=case.pk, remove=["vip"])

    assert (note.body, note.author_name) == ("**Called** the customer.", "ana")
    assert list(case.tags.values_list("name", flat=True)) == ["ato"]
    assert [e.after for e in events(AuditAction.CASE_TAGGED)] == [
        {"tags": ["ato", "vip"]},
        {"tags": ["ato"]},
    ]


def test_attachments_are_checked_and_stored_in_s3_under_the_case(team, s3, settings, bucket):
    settings.FRAUDCASE_ATTACHMENTS_BUCKET = bucket
    settings.FRAUDCASE_ATTACHMENT_MAX_BYTES = 1000
    analyst, _, _, queue = team
    case = make_case(queue)
    pdf = b"%PDF-1.7\n" + b"x" * 100

    attachment = services.case_attach_file(actor=analyst, case_id=case.pk, filename="../../etc/passwd statement.pdf",
                                           content=pdf, content_type="application/pdf")  # fmt: skip
    refusals = [
        ("a.pdf", b"%PDF-" + b"x" * 1000, "application/pdf", "at most 1000"),
        ("a.exe", b"MZ", "application/x-msdownload", "not accepted"),
        ("a.png", b"%PDF-1.7", "image/png", "content is not image/png"),
        ("a.txt", b"\xff\xfe", "text/plain", "not UTF-8 text"),
        ("a.txt", b"", "text/plain", "empty"),
    ]
    for filename, content, content_type, message in refusals:
        with pytest.raises(InvalidInput, match=message):
            services.case_attach_file(
                actor=analyst,
                case_id=case.pk,
                filename=filename,
                content=content,
                content_type=content_type,
            )

    assert attachment.filename == "passwd_statement.pdf"  # the path is dropped
    assert attachment.s3_key.startswith(f"cases/{case.reference}/attachments/")
    assert s3.get_object(Bucket=bucket, Key=attachment.s3_key)["Body"].read() == pdf
    assert case.attachments.count() == 1
    assert events(AuditAction.ATTACHMENT_ADDED)[0].after["sha256"] == attachment.sha256


def test_routing_puts_new_cases_in_queues_by_rules_with_sla_and_round_robin(team):
    _, _, lead, general = team
    a, b = make_user("amy", "analyst"), make_user("ben", "analyst")
    high = services.queue_save(actor=lead, name="High risk", sla_hours=2, routing_order=1,
                               min_similarity_score=0.9, round_robin=True, member_ids=[a.pk, b.pk])  # fmt: skip
    services.queue_save(actor=lead, name="UK", sla_hours=4, routing_order=2, countries=["GB"])
    cases = [make_case(None) for _ in range(4)]
    Case.objects.filter(pk__in=[c.pk for c in cases[:3]]).update(max_similarity_score=0.95)
    Transaction.objects.filter(case=cases[3]).update(country="GB")

    routed = services.cases_route_new(actor=lead, case_ids=[c.pk for c in cases])

    assert routed == 4
    placed = {c.pk: c for c in Case.objects.filter(pk__in=[c.pk for c in cases])}
    assert [placed[c.pk].queue.name for c in cases] == ["High risk", "High risk", "High risk", "UK"]
    assert [getattr(placed[c.pk].assignee, "username", None) for c in cases] == [
        "amy",
        "ben",
        "amy",
        None,
    ]
    first = placed[cases[0].pk]
    assert (first.due_at - first.opened_at).total_seconds() == 2 * 3600
    assert len(events(AuditAction.CASE_OPENED)) == 4
    with pytest.raises(ActionNotPermitted):
        services.queue_save(actor=team[0], name="Mine")
    with pytest.raises(InvalidInput, match="unknown outcome"):
        services.queue_save(actor=lead, name="Odd", outcomes=["maybe"])
    assert high.members.count() == 2 and general.is_default


def test_related_cases_share_an_ip_a_device_or_the_account(team):
    from cases.casefile.related import related_cases

    _, _, _, queue = team
    case = make_case(queue)
    ip, device = case.transactions.first().source_ip, case.transactions.first().device_id
    same_ip = make_case(queue)
    Transaction.objects.filter(case=same_ip).update(source_ip=ip)
    same_ip_and_device = make_case(queue)
    Transaction.objects.filter(case=same_ip_and_device).update(source_ip=ip, device_id=device)
    older_same_account = make_case(
        queue, account_id=case.account_id + "-old", status=CaseStatus.CLOSED
    )
    Transaction.objects.filter(case=older_same_account).update(
        account_id=case.account_id, source_ip="8.8.8.8", device_id="x"
    )
    unrelated = make_case(queue)
    Transaction.objects.filter(case=unrelated).update(source_ip="9.9.9.9", device_id="y")

    related = related_cases(case)

    assert [entry["case"].pk for entry in related] == [
        same_ip_and_device.pk,
        same_ip.pk,
        older_same_account.pk,
    ]
    assert related[0]["shared"] == {"source_ip": [ip], "device_id": [device]}
    assert related[2]["shared"] == {"account_id": [case.account_id]}
