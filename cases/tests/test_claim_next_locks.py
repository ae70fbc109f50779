"""Claim next skips a case another transaction holds, at once, instead of waiting for it.

The two-thread race in test_workflow.py passes even without SKIP LOCKED: PostgreSQL re-checks
the row the second claimer waited for and moves on, so both still get different cases; the
second analyst just waits for the first one's transaction. Here another connection holds the
top case's row lock in an open transaction (as a lead's slow assign or an ingest refresh would),
and the claiming transaction may not wait for more than a short lock_timeout.
"""

from __future__ import annotations

import time

import pytest
from django.db import connection, connections, transaction

from cases.models import AuditAction, AuditEvent, Case
from cases.tests.workflow_fixtures import make_case, make_queue, make_user
from cases.workflow import services

pytestmark = pytest.mark.django_db(transaction=True)  # the other connection must see the rows


@pytest.fixture
def other_connection():
    """A second database connection of its own (another analyst's or a worker's session)."""
    other = connections.create_connection("default")
    yield other
    other.close()


def hold_row_lock(other, case: Case) -> None:
    """Open a transaction on the other connection and lock the case's row in it."""
    other.set_autocommit(False)
    with other.cursor() as cursor:
        cursor.execute("SELECT id FROM cases_case WHERE id = %s FOR UPDATE", [case.pk])
        assert cursor.fetchone() == (case.pk,)


def claim_next_without_waiting(actor):
    """Claim next in a transaction that fails after 500 ms waiting for any lock."""
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL lock_timeout = '500ms'")
        return services.case_claim_next(actor=actor)


def test_claim_next_skips_the_case_another_transaction_holds(other_connection):
    analyst = make_user("ana", "analyst")
    queue = make_queue("General", analyst)
    top, following = make_case(queue), make_case(queue)
    Case.objects.filter(pk=top.pk).update(priority=90)
    Case.objects.filter(pk=following.pk).update(priority=10)
    hold_row_lock(other_connection, top)

    started = time.monotonic()
    claimed = claim_next_without_waiting(analyst)
    waited = time.monotonic() - started

    assert claimed.pk == following.pk
    assert waited < 0.5  # did not wait for the held row
    other_connection.rollback()
    assert dict(
        Case.objects.filter(pk__in=[top.pk, following.pk]).values_list("pk", "assignee")
    ) == {
        top.pk: None,
        following.pk: analyst.pk,
    }
    [event] = AuditEvent.objects.filter(action=AuditAction.CASE_ASSIGNED)
    assert (event.object_id, event.actor_id) == (str(following.pk), analyst.pk)


def test_the_held_case_is_claimed_once_its_holder_lets_go(other_connection):
    analyst = make_user("ana", "analyst")
    queue = make_queue("General", analyst)
    top, following = make_case(queue), make_case(queue)
    Case.objects.filter(pk=top.pk).update(priority=90)
    Case.objects.filter(pk=following.pk).update(priority=10)
    hold_row_lock(other_connection, top)
    assert claim_next_without_waiting(analyst).pk == following.pk

    other_connection.rollback()

    assert claim_next_without_waiting(analyst).pk == top.pk
    assert claim_next_without_waiting(analyst) is None
