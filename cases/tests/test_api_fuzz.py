"""schemathesis against the live schema, in-process: every operation of /api/v1/ with generated
valid and invalid input, through Django's WSGI app on the real test database, with a lead's
token. No 5xx, and every answer (status, media type, body) as the schema documents it."""

from __future__ import annotations

import pytest
import schemathesis
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from cases.tests.api_fixtures import token_client
from cases.tests.workflow_fixtures import make_case, make_queue, make_user

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

EXAMPLES_PER_OPERATION = 15
CHECKS = [
    not_a_server_error, status_code_conformance, content_type_conformance,
    response_schema_conformance,
]  # fmt: skip


@pytest.fixture
def wsgi_app(settings):
    """Django's WSGI app answering inside the test's transaction: requests must not close the
    test's connection (what Django's own test client arranges too)."""
    settings.ALLOWED_HOSTS = ["localhost", "testserver"]
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield WSGIHandler()
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def test_every_operation_answers_as_documented(wsgi_app):
    from django.core.cache import cache

    cache.clear()  # the throttles' counts
    lead = make_user("lea", "lead")
    general = make_queue("General", make_user("ana", "analyst"))
    for _ in range(3):
        make_case(general, transactions=2)
    auth = {"Authorization": token_client(lead, scope="read")._credentials["HTTP_AUTHORIZATION"]}
    schema = schemathesis.openapi.from_wsgi("/api/v1/schema/", wsgi_app)

    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 9

    for operation in operations:

        @given(case=operation.as_strategy())
        @hypothesis_settings(
            max_examples=EXAMPLES_PER_OPERATION, deadline=None, database=None,
            derandomize=True,  # the same examples every run: CI must not turn red by chance
            phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck),
        )  # fmt: skip
        def answers_as_documented(case):
            case.call_and_validate(headers=auth, checks=CHECKS)

        answers_as_documented()
