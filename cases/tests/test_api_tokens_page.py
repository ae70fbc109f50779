"""The API tokens page and manage.py create_api_token: a token is shown once, stored hashed,
and works at once; revoking stops it; another's token cannot be revoked."""

from __future__ import annotations

import re
from io import StringIO

import pytest
from django.core.management import call_command
from django.test import Client
from rest_framework.test import APIClient

from cases.models import ApiToken, AuditAction, AuditEvent
from cases.tests.workflow_fixtures import make_user
from conftest import signed_in

pytestmark = pytest.mark.django_db


def api_get(plain: str, path: str = "/api/v1/cases/"):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {plain}")
    return client.get(path)


def test_a_user_creates_a_token_seen_once_and_revokes_it():
    analyst = make_user("ana", "analyst")
    client = signed_in(Client(), analyst)

    created = client.post(
        "/auth/tokens/", {"name": "nightly sync", "scope": "read", "expires_in_days": "30"}
    )
    plain = re.search(r'id="api-token">(fc_[^<]+)<', created.content.decode()).group(1)
    listing = client.get("/auth/tokens/").content.decode()
    token = ApiToken.objects.get()

    assert created.status_code == 200 and "no-store" in created["Cache-Control"]
    assert (token.name, token.scope, token.user) == ("nightly sync", "read", analyst)
    assert abs((token.expires_at - token.created_at).total_seconds() - 30 * 86400) < 60
    assert plain not in listing and f"fc_{token.prefix}_" in listing and "nightly sync" in listing
    assert api_get(plain).status_code == 200

    revoked = client.post(f"/auth/tokens/{token.pk}/revoke/")

    assert revoked.status_code == 302 and api_get(plain).status_code == 401
    assert AuditEvent.objects.filter(action=AuditAction.API_TOKEN_REVOKED).count() == 1
    assert "revoked" in client.get("/auth/tokens/").content.decode()


def test_a_bad_form_creates_nothing():
    client = signed_in(Client(), make_user("ana", "analyst"))

    answer = client.post("/auth/tokens/", {"name": "", "scope": "admin", "expires_in_days": "0"})

    assert answer.status_code == 400 and ApiToken.objects.count() == 0


def test_create_api_token_prints_it_once_for_a_service_account():
    service = make_user("sync-bot", "service")
    out = StringIO()

    call_command("create_api_token", "sync-bot", "--scope", "write", "--days", "90", stdout=out)

    plain = out.getvalue().strip().rsplit(" ", 1)[-1]
    token = ApiToken.objects.get()
    assert (token.user, token.scope) == (service, "write") and plain.startswith("fc_")
    assert api_get(plain).status_code == 200
    event = AuditEvent.objects.get(action=AuditAction.API_TOKEN_CREATED)
    assert event.actor_name.startswith("system") and plain.split("_", 2)[2] not in str(event.after)
