"""Every service that changes something writes its audit events, exactly, in its transaction.

For each row of the table (service_audit_rows_*.py): the call appends exactly the expected
events (action, object, before, after, actor) and nothing else; and when the transaction the
service ran in fails afterwards, neither its change nor its events remain. A public function of
a service module that is in neither the table nor NO_EVENT (with the reason) fails the
completeness test, so a new service cannot slip past.
"""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path

import pytest
from django.apps import apps
from django.db import transaction

from cases.models import AuditEvent
from cases.tests.service_audit_rows_other import OTHER_ROWS
from cases.tests.service_audit_rows_triage import TRIAGE_ROWS
from cases.tests.service_audit_rows_workflow import WORKFLOW_ROWS
from cases.tests.service_audit_table import Row, make_world

pytestmark = pytest.mark.django_db

ROWS: list[Row] = [*WORKFLOW_ROWS, *OTHER_ROWS, *TRIAGE_ROWS]

# Modules whose public functions are services (writes) or their helpers. Every services.py and
# services/ module under cases/ must be here (test_every_services_module_is_listed).
SERVICE_MODULES = [
    "cases.workflow.services.annotations",
    "cases.workflow.services.assignment",
    "cases.workflow.services.attachments",
    "cases.workflow.services.bulk",
    "cases.workflow.services.common",
    "cases.workflow.services.lifecycle",
    "cases.workflow.services.merge",
    "cases.workflow.services.queues",
    "cases.workflow.services.routing",
    "cases.workflow.services.setup",
    "cases.labels.services.export",
    "cases.labels.services.versions",
    "cases.labels.services.imports",
    "cases.ingest.services",
    "cases.currency.services",
    "cases.ingest.intake",
    "cases.ips.services",
    "cases.webhooks.services",
    "cases.similarity.services",
    "cases.accounts.users",
    "cases.accounts.tokens",
    "cases.accounts.enrolment",
    "cases.accounts.sign_in",
    "cases.audit.export",
    "cases.audit.anchors",
    "cases.audit.reads",
    "cases.queue.services",
    "cases.watchers.services",
    "cases.shadow.services",
]

HELPER = "a step of the services in the table, inside their transaction; they write the event"
PURE = "computes a value; changes nothing"
READ = "reads; changes nothing"
DERIVED = "recomputes derived data (no one's decision), run by workers; nothing to attribute"
NO_EVENT: dict[str, str] = {
    "cases.workflow.services.common.lock_case": HELPER,
    "cases.workflow.services.common.save_case": HELPER,
    "cases.workflow.services.common.lock_cases_checked": HELPER,
    "cases.workflow.services.common.check_version": "a check; a stale copy changes nothing",
    "cases.workflow.services.common.touch_case": HELPER,
    "cases.workflow.services.common.require_can_work": "a permission check; refusals_audited records refusals",
    "cases.workflow.services.common.case_snapshot": PURE,
    "cases.workflow.services.assignment.queue_next_round_robin_member": READ,
    "cases.workflow.services.routing.queue_matches": PURE,
    "cases.currency.services.exchange_rates_parse": PURE,
    "cases.labels.services.imports.labels_import_parse": PURE,
    "cases.similarity.services.cases_refresh_neighbours_of_labels": DERIVED,
    "cases.currency.services.amounts_reconvert": HELPER,
    "cases.workflow.services.routing.due_in_queue": PURE,
    "cases.workflow.services.routing.reroutable": READ,
    "cases.workflow.services.routing.lock_round_robin_queues": HELPER,
    "cases.workflow.services.attachments.attachment_store": (
        "stores the checked file in S3 before any lock, no database change (refusals "
        "audited); the attachment is recorded by case_attach_stored (ATTACHMENT_ADDED)"
    ),
    "cases.workflow.services.attachments.attachment_discard": (
        "deletes an S3 object that no row names (its record was refused); no database change"
    ),
    "cases.labels.services.export.batch_keys": PURE,
    "cases.labels.services.export.label_row": PURE,
    "cases.labels.services.export.render_batch": PURE,
    "cases.labels.services.export.build_manifest": PURE,
    "cases.labels.services.export.label_batch_claim": (
        "bookkeeping: ties waiting outbox rows to a batch; what reaches S3 is recorded when the "
        "batch is confirmed (LABEL_BATCH_EXPORTED, label_batch_write)"
    ),
    "cases.labels.services.versions.analyst_pseudonym": PURE,
    "cases.labels.services.versions.queue_label_export": "queues a task on commit; changes nothing",
    "cases.labels.services.versions.sync_current_label": HELPER,
    "cases.labels.services.versions.latest_version": READ,
    "cases.ingest.services.list_objects": READ,
    "cases.ingest.services.ingest_run_register": (
        "the inbox scan's bookkeeping (a run per S3 object version); the run's outcome is "
        "recorded as INGEST_RUN_FINISHED"
    ),
    "cases.ingest.services.inbox_scan": "registers runs (ingest_run_register); no actor: beat",
    "cases.ingest.services.disk_full_message": READ,
    "cases.ingest.services.ingest_run_execute": (
        "commits chunk by chunk on purpose (a crash resumes); its events (CASE_OPENED per case, "
        "INGEST_RUN_FINISHED) are checked in test_ingest.py, not as one transaction"
    ),
    "cases.ingest.intake.ingest_runs_start": (
        "KNOWN GAP (docs/testing.md): registers and queues runs for the caller without an event "
        "of its own; the runs record triggered_by and INGEST_RUN_FINISHED when they end"
    ),
    "cases.ingest.intake.ingest_runs_for": READ,
    "cases.ingest.intake.ingest_run_for": READ,
    "cases.ingest.intake.quarantined_rows_for": READ,
    "cases.ips.services.find_rings": PURE,
    "cases.ips.services.rings_compute": DERIVED,
    "cases.webhooks.services.webhook_events_record": (
        "the webhook outbox, written inside the caller's audited transaction"
    ),
    "cases.webhooks.services.webhook_event_record": "as webhook_events_record",
    "cases.similarity.services.similarity_index_catch_up": DERIVED,
    "cases.similarity.services.similarity_graph_refresh": DERIVED,
    "cases.shadow.services.shadow_scores_link": DERIVED,
    "cases.similarity.services.cases_refresh_neighbour_verdict": DERIVED,
    "cases.similarity.services.cases_refresh_all_neighbour_verdicts": DERIVED,
    "cases.accounts.users.require_user_manager": "a permission check",
    "cases.accounts.tokens.secret_hash": PURE,
    "cases.accounts.tokens.api_token_for": (
        "authentication: notes last_used_at (bookkeeping, at most once a minute)"
    ),
    "cases.accounts.enrolment.enrolment_code_hash": PURE,
    "cases.accounts.sign_in.otp_required_for": READ,
    "cases.accounts.sign_in.confirmed_totp_device": READ,
    "cases.accounts.sign_in.pending_totp_device": READ,
    "cases.accounts.sign_in.totp_secret_base32": PURE,
    "cases.accounts.sign_in.lockout_minutes_left": READ,
    "cases.accounts.sign_in.may_unlock_users": PURE,
    "cases.accounts.sign_in.require_unlocker": "a permission check",
    "cases.accounts.sign_in.unknown_username_failure_count": (
        "counts failed sign-ins of unknown usernames outside the chain on purpose (one upsert "
        "per address and hour, so a flood cannot grow the trail)"
    ),
    "cases.audit.anchors.anchor_key": PURE,
    "cases.audit.anchors.anchor_signature": PURE,
    "cases.audit.anchors.ensure_audit_bucket": "creates the S3 bucket; no database change",
    "cases.audit.anchors.audit_anchors_verify": READ,
    "cases.queue.services.saved_query": PURE,
    "cases.watchers.services.mentioned_usernames": PURE,
    "cases.watchers.services.note_notify": HELPER + " (case_add_note: its NOTE_ADDED event)",
    "cases.watchers.services.notifications_mark_read": (
        "the reader's own inbox bookkeeping (read_at on their notifications); nothing about a "
        "case or anyone else changes"
    ),
}


def qualified(function) -> str:
    return f"{function.__module__}.{function.__name__}"


def public_functions() -> set[str]:
    found = set()
    for name in SERVICE_MODULES:
        module = importlib.import_module(name)
        for attribute, value in vars(module).items():
            if (
                inspect.isfunction(value)
                and value.__module__ == name
                and not attribute.startswith("_")
            ):
                found.add(f"{name}.{attribute}")
    return found


def test_every_services_module_is_listed():
    root = Path(__file__).resolve().parents[2]
    paths = [*root.glob("cases/**/services.py"), *root.glob("cases/**/services/*.py")]
    modules = {
        ".".join(path.relative_to(root).with_suffix("").parts)
        for path in paths
        if "management" not in path.parts and path.name != "__init__.py"
    }
    assert modules - set(SERVICE_MODULES) == set()


def test_every_public_service_function_is_in_the_table_or_says_why_it_writes_no_event():
    in_table = {qualified(row.function) for row in ROWS}
    public = public_functions()
    assert sorted(public - in_table - set(NO_EVENT)) == [], "add a row, or a reason to NO_EVENT"
    assert sorted(set(NO_EVENT) - public) == [], "stale NO_EVENT entries"
    assert sorted(in_table & set(NO_EVENT)) == []


@pytest.fixture
def world(settings, bucket, s3):
    settings.FRAUDCASE_RETRAINING_BUCKET = bucket
    settings.FRAUDCASE_ATTACHMENTS_BUCKET = bucket
    settings.FRAUDCASE_AUDIT_BUCKET = f"{bucket}-audit"
    return make_world(bucket)


def database_state() -> dict[str, str]:
    """Every row of every table (many-to-many ones too) but the audit trail's, as text."""
    state = {}
    for model in apps.get_models(include_auto_created=True):
        if model is AuditEvent or model._meta.proxy or not model._meta.managed:
            continue
        state[model._meta.label] = repr(list(model.objects.order_by("pk").values_list()))
    return state


def changed_tables(before: dict, after: dict) -> list[str]:
    return sorted(label for label in before if before[label] != after[label])


def new_events(after_id: int) -> list[dict]:
    return [
        {
            "action": event.action,
            "object_type": event.object_type,
            "object_id": event.object_id,
            "actor": event.actor_id,
            "before": event.before,
            "after": event.after,
        }  # fmt: skip
        for event in AuditEvent.objects.filter(id__gt=after_id).order_by("id")
    ]


def last_event_id() -> int:
    return AuditEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0


class AbortAfterTheService(Exception):
    """Raised inside the transaction the service joined, once it returned."""


@pytest.mark.parametrize("row", ROWS, ids=[row.name for row in ROWS])
def test_the_service_writes_exactly_its_events(row, world):
    if row.setup:
        row.setup(world)
    mark, state = last_event_id(), database_state()

    result = row.call(world, getattr(world, row.actor))

    written = new_events(mark)
    expected = [event.spelled(world, row.actor) for event in row.expect(world, result)]
    assert written == expected
    if row.changes is not None:
        assert bool(changed_tables(state, database_state())) is row.changes


@pytest.mark.parametrize("row", ROWS, ids=[row.name for row in ROWS])
def test_the_events_roll_back_with_the_change(row, world):
    if row.setup:
        row.setup(world)
    mark, state = last_event_id(), database_state()

    with pytest.raises(AbortAfterTheService), transaction.atomic():
        row.call(world, getattr(world, row.actor))
        assert new_events(mark), "the service wrote no event inside the transaction"
        raise AbortAfterTheService

    assert new_events(mark) == []
    assert changed_tables(state, database_state()) == []
