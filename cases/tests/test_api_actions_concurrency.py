"""Concurrent API changes: a stale ETag never gets through, a duplicate key never acts twice."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from cases.api.models import IdempotentRequest
from cases.models import AuditAction, AuditEvent, Case, Note
from cases.tests.api_fixtures import token_client
from cases.tests.workflow_fixtures import make_case, make_queue, make_user

pytestmark = pytest.mark.django_db(transaction=True)


def at_once(*requests) -> list:
    """Run the requests in threads released together; their responses, in order."""
    barrier = threading.Barrier(len(requests))
    responses, errors = [None] * len(requests), []

    def run(index, request):
        try:
            barrier.wait()
            responses[index] = request()
        except Exception as exc:  # surfaced below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=pair) for pair in enumerate(requests)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    return responses


@pytest.fixture
def setting():
    analyst, colleague = make_user("ana", "analyst"), make_user("otto", "analyst")
    case = make_case(make_queue("General", analyst, colleague))
    clients = [token_client(analyst), token_client(colleague)]
    etag = clients[0].get(f"/api/v1/cases/{case.reference}/")["ETag"]
    return case, clients, etag


def test_two_changes_from_the_same_etag_one_lands_one_is_412(setting):
    case, clients, etag = setting
    url = f"/api/v1/cases/{case.reference}/"

    responses = at_once(
        lambda: clients[0].post(url + "tags/", {"add": ["ato"]}, format="json",
                                HTTP_IF_MATCH=etag),
        lambda: clients[1].post(url + "notes/", {"body": "called"}, format="json",
                                HTTP_IF_MATCH=etag),
    )  # fmt: skip

    assert sorted(response.status_code for response in responses) in ([200, 412], [201, 412])
    landed = Case.objects.get(pk=case.pk)
    assert landed.tags.count() + landed.notes.count() == 1
    stale = next(response for response in responses if response.status_code == 412)
    assert stale.json()["etag"] == clients[0].get(url)["ETag"]


def test_duplicates_sent_at_once_act_once_and_answer_alike(setting):
    case, clients, etag = setting
    url = f"/api/v1/cases/{case.reference}/notes/"

    def send():
        return clients[0].post(url, {"body": "called"}, format="json", HTTP_IF_MATCH=etag,
                               HTTP_IDEMPOTENCY_KEY="dup-1")  # fmt: skip

    responses = at_once(send, send, send)

    assert [response.status_code for response in responses] == [201, 201, 201]
    assert responses[0].json() == responses[1].json() == responses[2].json()
    assert Note.objects.filter(case=case).count() == 1
    assert IdempotentRequest.objects.filter(key="dup-1").count() == 1
    assert AuditEvent.objects.filter(action=AuditAction.NOTE_ADDED).count() == 1
