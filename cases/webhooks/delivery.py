"""Sending webhook deliveries: claim, commit, POST, then record the receiver's answer.

- Claim: due pending deliveries are locked FOR UPDATE SKIP LOCKED (workers share the work),
  marked claimed_until a lease and committed; no HTTP call happens while a row is locked.
- Order: a delivery is claimed only when no earlier event of the same case is still pending
  for the same subscription (delivered or failed ones do not hold it back).
- At least once: a worker dying after the POST leaves the delivery pending; once the lease
  passes it is sent again with the same event id, which receivers use to de-duplicate.
- Only to public addresses (cases/webhooks/targets.py): the host is resolved and checked as
  the connection is made; a refused address is a failed attempt like a network error.
- A non-2xx answer, a redirect or a network error is an attempt: the next one waits twice as
  long (FRAUDCASE_WEBHOOK_RETRY_BACKOFF, doubling up to _MAX); after
  FRAUDCASE_WEBHOOK_MAX_ATTEMPTS the delivery is failed (the admin can send it again).
"""

from __future__ import annotations

import json
import logging
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, F, OuterRef, Q
from django.utils import timezone

from cases.models import WebhookDelivery
from cases.webhooks import signing
from cases.webhooks.targets import checked_opener

logger = logging.getLogger(__name__)

USER_AGENT = "FraudCase-Webhooks/1"
CLAIM_BATCH = 50
MAX_ERROR_LENGTH = 2000


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is an answer we do not follow: the POST and its signature stay at one URL."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


# Each connection to an address checked as it is made (cases/webhooks/targets.py).
_opener = checked_opener(_NoRedirects)


@dataclass(frozen=True)
class Outcome:
    status_code: int | None
    error: str

    @property
    def delivered(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def delivery_body(delivery: WebhookDelivery) -> bytes:
    """The JSON body: {id, type, occurred_at, data}, compact with sorted keys."""
    event = delivery.event
    document = {
        "id": str(event.event_id),
        "type": event.type,
        "occurred_at": event.created_at.isoformat(),
        "data": event.payload,
    }
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


def _lease() -> timedelta:
    return timedelta(seconds=settings.FRAUDCASE_WEBHOOK_TIMEOUT_SECONDS + 60)


def webhook_deliveries_claim(*, now: datetime, limit: int = CLAIM_BATCH) -> list[int]:
    """Lease up to limit due deliveries to this worker (committed before any is sent)."""
    earlier_pending = WebhookDelivery.objects.filter(
        subscription_id=OuterRef("subscription_id"),
        case_id=OuterRef("case_id"),
        event_id__lt=OuterRef("event_id"),
        status=WebhookDelivery.Status.PENDING,
    )
    with transaction.atomic():
        claimed = list(
            WebhookDelivery.objects.filter(
                status=WebhookDelivery.Status.PENDING, next_attempt_at__lte=now
            )
            .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
            .filter(~Exists(earlier_pending))
            .select_for_update(skip_locked=True)
            .order_by("event_id", "id")
            .values_list("id", flat=True)[:limit]
        )
        WebhookDelivery.objects.filter(pk__in=claimed).update(
            claimed_until=now + _lease(), attempts=F("attempts") + 1, last_attempt_at=now
        )
    return claimed


def _post(url: str, body: bytes, headers: dict[str, str]) -> Outcome:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    timeout = settings.FRAUDCASE_WEBHOOK_TIMEOUT_SECONDS
    try:
        with _opener.open(request, timeout=timeout) as response:
            return Outcome(response.status, "")
    except urllib.error.HTTPError as answer:
        detail = answer.read(500).decode("utf-8", "replace")
        answer.close()
        return Outcome(answer.code, f"HTTP {answer.code}: {detail}".strip()[:MAX_ERROR_LENGTH])
    except (urllib.error.URLError, OSError, ValueError) as error:
        reason = getattr(error, "reason", error)
        return Outcome(None, f"{type(error).__name__}: {reason}"[:MAX_ERROR_LENGTH])


def webhook_delivery_send(*, delivery_id: int) -> Outcome | None:
    """POST one claimed delivery, then record the answer. None if it is no longer ours."""
    delivery = (
        WebhookDelivery.objects.select_related("event", "subscription")
        .filter(pk=delivery_id, status=WebhookDelivery.Status.PENDING)
        .first()
    )
    if delivery is None or delivery.claimed_until is None:
        return None
    body = delivery_body(delivery)
    timestamp = int(time.time())
    outcome = _post(
        delivery.subscription.url,
        body,
        {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            signing.EVENT_ID_HEADER: str(delivery.event.event_id),
            signing.TIMESTAMP_HEADER: str(timestamp),
            signing.SIGNATURE_HEADER: signing.sign(delivery.subscription.secret, timestamp, body),
        },
    )
    _record_outcome(delivery, outcome)
    return outcome


def retry_delay(attempts: int) -> timedelta:
    """Wait before attempt attempts + 1: the backoff doubling from the first, capped."""
    first = settings.FRAUDCASE_WEBHOOK_RETRY_BACKOFF
    seconds = min(first * 2 ** max(attempts - 1, 0), settings.FRAUDCASE_WEBHOOK_RETRY_BACKOFF_MAX)
    return timedelta(seconds=seconds)


def _record_outcome(claimed: WebhookDelivery, outcome: Outcome) -> None:
    now = timezone.now()
    with transaction.atomic():
        # Still the claim we sent under (an operator's redeliver meanwhile starts afresh).
        delivery = (
            WebhookDelivery.objects.select_for_update()
            .filter(pk=claimed.pk, claimed_until=claimed.claimed_until)
            .first()
        )
        if delivery is None:
            return
        delivery.claimed_until = None
        delivery.last_status_code = outcome.status_code
        delivery.last_error = outcome.error
        if outcome.delivered:
            delivery.status, delivery.delivered_at = WebhookDelivery.Status.DELIVERED, now
        elif delivery.attempts >= settings.FRAUDCASE_WEBHOOK_MAX_ATTEMPTS:
            delivery.status = WebhookDelivery.Status.FAILED
            logger.warning("webhook delivery %s failed for good: %s", delivery.pk, outcome.error)
        else:
            delivery.next_attempt_at = now + retry_delay(delivery.attempts)
        delivery.save(
            update_fields=[
                "claimed_until", "last_status_code", "last_error", "status", "delivered_at",
                "next_attempt_at",
            ]
        )  # fmt: skip


def webhook_deliveries_send_due(*, now: datetime | None = None, max_seconds: float = 120) -> int:
    """Send what is due, batch after batch, until nothing is or max_seconds passed.

    Safe to run in several workers at once. Returns how many deliveries reached a 2xx.
    """
    started = time.monotonic()
    delivered = 0
    while time.monotonic() - started < max_seconds:
        claimed = webhook_deliveries_claim(now=now or timezone.now())
        if not claimed:
            break
        for delivery_id in claimed:
            outcome = webhook_delivery_send(delivery_id=delivery_id)
            delivered += bool(outcome and outcome.delivered)
    return delivered
