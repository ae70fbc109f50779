"""Reads of the audit trail: chain verification, the latest events, KPIs computed from events."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import QuerySet

from cases.audit.trail import GENESIS_HASH, SYSTEM_USERNAME, event_hash
from cases.models import AuditAction, AuditEvent

CASE_OBJECT_TYPE = "cases.case"


@dataclass(frozen=True)
class AuditChainReport:
    """Outcome of walking the chain; on a problem, where the first one is and what it is."""

    ok: bool
    events_checked: int
    first_bad_event_id: int | None = None
    problem: str = ""
    first_bad_event_at: datetime | None = None


def audit_chain_verify(
    *, batch_size: int = 5000, progress: Callable[[int], None] | None = None
) -> AuditChainReport:
    """Recompute every event's hash in id order and check each link; stop at the first problem.

    Reads in keyset batches of batch_size, so memory stays flat however long the trail.
    events_checked counts the events read, the bad one included. progress, when given, is
    called with the number of events read in each batch.
    """
    expected_previous = GENESIS_HASH
    previous_id: int | None = None
    checked = 0
    last_id = 0
    while True:
        batch = list(AuditEvent.objects.filter(id__gt=last_id).order_by("id")[:batch_size])
        if not batch:
            return AuditChainReport(ok=True, events_checked=checked)
        for event in batch:
            checked += 1
            problem = _chain_problem(event, expected_previous, previous_id)
            if problem:
                return AuditChainReport(
                    ok=False,
                    events_checked=checked,
                    first_bad_event_id=event.pk,
                    problem=problem,
                    first_bad_event_at=event.occurred_at,
                )
            expected_previous, previous_id = event.hash, event.pk
        last_id = batch[-1].pk
        if progress is not None:
            progress(len(batch))


def _chain_problem(event: AuditEvent, expected_previous: str, previous_id: int | None) -> str:
    # Content first: a row whose own hash does not match was edited in place.
    if event_hash(event) != event.hash:
        return f"event {event.pk} was altered (its hash does not match its content)"
    if event.previous_hash != expected_previous:
        before = f"event {previous_id}" if previous_id else "the start of the trail (genesis)"
        return (
            f"the link before event {event.pk} is broken: an event is missing or was altered "
            f"(its previous_hash does not match {before})"
        )
    return ""


def audit_events(
    *,
    actor: str = "",
    action: str = "",
    object_type: str = "",
    object_id: str = "",
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 100,
) -> QuerySet[AuditEvent]:
    """The latest events matching the filters, newest first; since inclusive, until exclusive.

    actor matches any part of the recorded actor name (the name as it was, not as it is now).
    """
    events = AuditEvent.objects.order_by("-id")
    if actor:
        events = events.filter(actor_name__icontains=actor)
    if action:
        events = events.filter(action=action)
    if object_type:
        events = events.filter(object_type=object_type)
    if object_id:
        events = events.filter(object_id=object_id)
    if since is not None:
        events = events.filter(occurred_at__gte=since)
    if until is not None:
        events = events.filter(occurred_at__lt=until)
    return events[:limit]


# What counts as someone working the case (by a person, not the system user).
TOUCH_ACTIONS = (
    AuditAction.CASE_ASSIGNED,
    AuditAction.CASE_STATUS_CHANGED,
    AuditAction.NOTE_ADDED,
    AuditAction.TRANSACTION_DECIDED,
    AuditAction.TRANSACTION_LABELLED,
    AuditAction.CASE_CLOSED,
)

# One pass over the case events after each case_opened event; percentiles by interpolation.
# Closing and assigning are touches too, so one action filter serves all three KPIs.
# A transaction-level event counts for the case its payload names (after.case_id), if any.
_KPI_SQL = """
WITH opened AS (
    SELECT DISTINCT ON (object_id) object_id AS case_key, id AS opened_id, occurred_at AS opened_at
    FROM {table}
    WHERE action = %(opened)s AND object_type = %(case_type)s
      AND (%(since)s::timestamptz IS NULL OR occurred_at >= %(since)s::timestamptz)
      AND (%(until)s::timestamptz IS NULL OR occurred_at < %(until)s::timestamptz)
    ORDER BY object_id, id
),
case_events AS (
    SELECT CASE WHEN object_type = %(case_type)s THEN object_id ELSE after ->> 'case_id' END
               AS case_key,
           id, occurred_at, action, actor_id
    FROM {table}
    WHERE action = ANY(%(touch)s)
),
per_case AS (
    SELECT o.opened_at,
           MIN(e.occurred_at) FILTER (
               WHERE e.actor_id IS NOT NULL AND e.actor_id IS DISTINCT FROM %(system_id)s::bigint
           ) - o.opened_at AS first_touch,
           MIN(e.occurred_at) FILTER (WHERE e.action = %(closed)s) - o.opened_at AS to_close,
           GREATEST(COUNT(e.id) FILTER (WHERE e.action = %(assigned)s) - 1, 0) AS reassignments
    FROM opened o
    LEFT JOIN case_events e ON e.case_key = o.case_key AND e.id > o.opened_id
    GROUP BY o.case_key, o.opened_at
)
SELECT COUNT(*),
       COUNT(first_touch),
       percentile_cont(0.5) WITHIN GROUP (ORDER BY first_touch),
       percentile_cont(0.9) WITHIN GROUP (ORDER BY first_touch),
       AVG(first_touch),
       COUNT(to_close),
       percentile_cont(0.5) WITHIN GROUP (ORDER BY to_close),
       percentile_cont(0.9) WITHIN GROUP (ORDER BY to_close),
       AVG(to_close),
       percentile_cont(0.5) WITHIN GROUP (ORDER BY reassignments),
       percentile_cont(0.9) WITHIN GROUP (ORDER BY reassignments),
       AVG(reassignments)::float8,
       COALESCE(SUM(reassignments), 0)::bigint,
       COUNT(*) FILTER (WHERE reassignments > 0)
FROM per_case
"""


def case_kpis(*, since: datetime | None = None, until: datetime | None = None) -> dict:
    """Working-time KPIs of the cases opened in [since, until), from audit events alone.

    - time_to_first_touch: case_opened to the first later assign, status change, note,
      decision, label or close by a person (not the system user, not anonymous);
    - time_to_close: case_opened to the first later case_closed;
    - reassignments: case_assigned events on the case after its first (0 if never assigned).
    Durations are timedeltas, None when there is nothing to measure; each part has its count.
    """
    system_id = (
        get_user_model()
        .objects.filter(username=SYSTEM_USERNAME)
        .values_list("pk", flat=True)
        .first()
    )
    params = {
        "opened": AuditAction.CASE_OPENED.value,
        "closed": AuditAction.CASE_CLOSED.value,
        "assigned": AuditAction.CASE_ASSIGNED.value,
        "case_type": CASE_OBJECT_TYPE,
        "touch": [action.value for action in TOUCH_ACTIONS],
        "system_id": system_id,
        "since": since,
        "until": until,
    }
    with connection.cursor() as cursor:
        cursor.execute(_KPI_SQL.format(table=AuditEvent._meta.db_table), params)
        row = cursor.fetchone()
    (
        opened, touched, touch_p50, touch_p90, touch_mean, closed, close_p50, close_p90,
        close_mean, reassign_p50, reassign_p90, reassign_mean, reassign_total, reassigned,
    ) = row  # fmt: skip
    return {
        "since": since,
        "until": until,
        "cases_opened": opened,
        "time_to_first_touch": {
            "count": touched, "median": touch_p50, "p90": touch_p90, "mean": touch_mean,
        },
        "time_to_close": {
            "count": closed, "median": close_p50, "p90": close_p90, "mean": close_mean,
        },
        "reassignments": {
            "count": opened, "median": reassign_p50, "p90": reassign_p90, "mean": reassign_mean,
            "total": reassign_total, "cases_reassigned": reassigned,
        },
    }  # fmt: skip
