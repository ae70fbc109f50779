"""Recording webhook events in the caller's transaction, and sending deliveries again.

webhook_event_record is called by the services that change cases, labels and ingest runs,
inside their transaction: the event and its deliveries commit with the change or not at all.
When no active subscription wants the type nothing is written (the check is part of the one
INSERT statement, so the services pay one cheap query and no more).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.utils import timezone

from cases import dispatch
from cases.audit.trail import audit_record, refusals_audited
from cases.errors import InvalidInput
from cases.models import REFERENCE_PREFIX, AuditAction, WebhookDelivery, WebhookEventType
from cases.policies import require_permission
from cases.sqlarrays import number_array, text_array

# Events and their deliveries in one statement: nothing when no active subscription wants the
# type; otherwise one event per item and one pending delivery per subscription per event.
_RECORD_SQL = """
WITH subscribed AS (
    SELECT id FROM cases_webhooksubscription WHERE active AND %(type)s = ANY(event_types)
), new_event AS (
    INSERT INTO cases_webhookevent (event_id, type, case_id, payload, created_at)
    SELECT gen_random_uuid(), %(type)s, item.case_id, item.payload::jsonb, %(now)s
    FROM unnest(%(case_ids)s::bigint[], %(payloads)s::text[]) WITH ORDINALITY
         AS item(case_id, payload, position)
    WHERE EXISTS (SELECT 1 FROM subscribed)
    ORDER BY item.position
    RETURNING id, case_id
)
INSERT INTO cases_webhookdelivery (subscription_id, event_id, case_id, status, attempts,
                                   next_attempt_at, last_error)
SELECT subscribed.id, new_event.id, new_event.case_id, 'pending', 0, %(now)s, ''
FROM new_event CROSS JOIN subscribed
ORDER BY new_event.id, subscribed.id
RETURNING id
"""


def _case_fields(case_id: int | None) -> dict:
    if case_id is None:
        return {}
    return {"case_id": case_id, "case_reference": f"{REFERENCE_PREFIX}{case_id:06d}"}


def webhook_events_record(
    *, type: str, case_ids: Iterable[int | None], payloads: Iterable[Mapping] | None = None
) -> int:
    """Record one event of this type per case (in order), in bulk: one query for thousands.

    Each event's data is its payload plus case_id and case_reference. Call inside the
    transaction of the change. Returns how many deliveries were queued (0: nobody subscribed).
    """
    if type not in WebhookEventType.values:
        raise InvalidInput(f"{type!r} is not a webhook event type")
    case_ids = list(case_ids)
    if not case_ids:
        return 0
    payloads = list(payloads) if payloads is not None else [{} for _ in case_ids]
    data = [
        json.dumps({**_case_fields(case_id), **payload}, cls=DjangoJSONEncoder, sort_keys=True)
        for case_id, payload in zip(case_ids, payloads, strict=True)
    ]
    # One statement: no savepoint (a round trip each way) in the caller's transaction.
    with transaction.atomic(savepoint=False), connection.cursor() as cursor:
        cursor.execute(
            _RECORD_SQL,
            {
                "type": type,
                "now": timezone.now(),
                # NULL elements for events without a case.
                "case_ids": number_array("NULL" if c is None else c for c in case_ids),
                "payloads": text_array(data),
            },
        )
        queued = len(cursor.fetchall())
    if queued:
        dispatch.queue_on_commit(dispatch.DELIVER_WEBHOOKS)
    return queued


def webhook_event_record(*, type: str, case=None, payload: Mapping | None = None) -> int:
    """Record one event (about a case, or none) in the caller's transaction; see above."""
    return webhook_events_record(
        type=type, case_ids=[getattr(case, "pk", case)], payloads=[payload or {}]
    )


def webhook_deliveries_redeliver(*, actor, delivery_ids: Iterable[int]) -> int:
    """Send these deliveries again from the first attempt (an operator's call), audited.

    Delivered or failed ones go back to pending; the receiver sees the same event id again.
    """
    with refusals_audited(actor=actor, attempted="webhook_deliveries_redeliver"):
        require_permission(actor, "change_webhooksubscription", attempted="redeliver webhooks")
        return _redeliver(actor=actor, delivery_ids=list(delivery_ids))


def _redeliver(*, actor, delivery_ids: list[int]) -> int:
    with transaction.atomic():
        deliveries = list(
            WebhookDelivery.objects.select_for_update()
            .filter(pk__in=delivery_ids)
            .select_related("event", "subscription")
            .order_by("pk")
        )
        if not deliveries:
            return 0
        WebhookDelivery.objects.filter(pk__in=[d.pk for d in deliveries]).update(
            status=WebhookDelivery.Status.PENDING, attempts=0, next_attempt_at=timezone.now(),
            claimed_until=None, last_error="", delivered_at=None,
        )  # fmt: skip
        for delivery in deliveries:
            audit_record(
                actor=actor, action=AuditAction.WEBHOOK_REDELIVERED, obj=delivery,
                object_repr=f"{delivery.event.type} {delivery.event.event_id} to {delivery.subscription.name}",
                before={"status": delivery.status, "attempts": delivery.attempts,
                        "last_status_code": delivery.last_status_code},
                after={"status": WebhookDelivery.Status.PENDING, "attempts": 0},
            )  # fmt: skip
        dispatch.queue_on_commit(dispatch.DELIVER_WEBHOOKS)
        return len(deliveries)
