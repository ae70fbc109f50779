"""The API's background work through a real Celery worker on the real broker: what an intake
POST queues on commit (neighbour verdicts, the similarity index, the case.opened webhook), the
ingest trigger's runs, and webhook deliveries to a real HTTP receiver, retried after its 500."""

from __future__ import annotations

import json

import pytest
from django.utils import timezone

from cases.fileformats import encode_rows
from cases.models import Case, CaseCentroid, EmbeddingBacklog, WebhookDelivery
from cases.tests.api_fixtures import token_client
from cases.tests.test_webhooks import subscribe
from cases.tests.workflow_fixtures import make_queue, make_user
from cases.webhooks import signing
from conftest import contract_row, put_file, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def service_client():
    make_queue("General", make_user("ana", "analyst"), is_default=True)
    return token_client(make_user("flag-bot", "service"), actor=make_user("root", "admin"))


def delivery_state() -> list[tuple]:
    return list(WebhookDelivery.objects.values_list("status", "attempts", "last_status_code"))


def test_an_intake_post_s_work_and_webhook_are_done_by_a_worker_retrying_after_a_500(
    service_client, receiver, celery_worker_factory
):
    server = receiver(500)  # the first POST fails; the retry gets a 200
    subscription = subscribe(server.url, "case.opened")
    worker = celery_worker_factory(FRAUDCASE_WEBHOOK_RETRY_BACKOFF="1")
    line = encode_rows([contract_row(3)], "jsonl").strip()

    response = service_client.generic("POST", "/api/v1/flags/", line,
                                      content_type="application/json")  # fmt: skip

    assert response.status_code == 201, response.content[:500]
    reference = response.json()["rows"][0]["case_reference"]
    case = Case.objects.get(account_id="acc_00003")
    log = lambda: f"{delivery_state()}; worker log:\n{worker.log()[-3000:]}"  # noqa: E731
    wait_until(lambda: delivery_state() == [("pending", 1, 500)], timeout=90, message=log)
    # The intake's other work, queued on the same commit, was done by the worker too.
    wait_until(
        lambda: CaseCentroid.objects.filter(case=case).exists()
        and not EmbeddingBacklog.objects.exists(),
        timeout=60, message=log,
    )  # fmt: skip
    assert len(server.requests) == 1
    retry_at = WebhookDelivery.objects.get().next_attempt_at  # the backoff: a second later
    wait_until(lambda: timezone.now() > retry_at, timeout=10)
    from cases.webhooks.tasks import sweep_webhook_deliveries

    sweep_webhook_deliveries.delay()  # as beat does every FRAUDCASE_WEBHOOK_SWEEP_SECONDS
    wait_until(lambda: delivery_state() == [("delivered", 2, 200)], timeout=60, message=log)

    first, again = server.requests
    assert first[0]["X-FraudCase-Event-Id"] == again[0]["X-FraudCase-Event-Id"]
    assert first[1] == again[1]
    signing.verify(subscription.secret, again[0], again[1])
    event = json.loads(again[1])
    assert (event["type"], event["data"]["case_reference"]) == ("case.opened", reference)
    assert event["data"]["queue"] == "General"


def test_the_ingest_trigger_s_run_is_done_by_a_worker_and_announced(
    service_client, receiver, celery_worker_factory, s3, bucket
):
    server = receiver()
    subscription = subscribe(server.url, "ingest_run.finished", "case.opened")
    rows = [contract_row(1), contract_row(2), contract_row(3, currency="XYZ")]
    put_file(s3, bucket, "flagged/2026-12-06/a.csv", encode_rows(rows, "csv"))
    worker = celery_worker_factory()

    started = service_client.post(
        "/api/v1/ingest-runs/", {"bucket": bucket, "prefix": "flagged/2026-12-06/"}, format="json"
    )

    assert started.status_code == 201, started.content[:500]
    [run] = started.json()["runs"]

    def polled():
        return service_client.get(f"/api/v1/ingest-runs/{run['id']}/").json()

    wait_until(
        lambda: polled()["status"] == "succeeded", timeout=90,
        message=lambda: f"{polled()}; worker log:\n{worker.log()[-3000:]}",
    )  # fmt: skip
    done = polled()
    assert (done["rows_read"], done["rows_loaded"], done["rows_quarantined"]) == (3, 2, 1)
    wait_until(
        lambda: len(server.requests) == 3, timeout=60,
        message=lambda: f"{delivery_state()}; worker log:\n{worker.log()[-3000:]}",
    )  # fmt: skip
    for headers, body in server.requests:
        signing.verify(subscription.secret, headers, body)
    events = sorted((d["type"], d["data"].get("run_id")) for d in server.documents())
    assert events == [("case.opened", None), ("case.opened", None),
                      ("ingest_run.finished", run["id"])]  # fmt: skip
