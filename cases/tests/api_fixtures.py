"""Builders for API tests: a token's client, problem-details checks."""

from __future__ import annotations

from rest_framework.test import APIClient

from cases.accounts.tokens import api_token_create


def token_client(user, *, scope: str = "write", expires_at=None, actor=None) -> APIClient:
    """An API client sending a new token of user's (created by actor, default the user)."""
    issued = api_token_create(
        actor=actor or user, user_id=user.pk, name="test", scope=scope, expires_at=expires_at
    )
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issued.plain}")
    client.issued = issued
    return client


def assert_problem(response, status: int, code: str) -> dict:
    assert response.status_code == status, (response.status_code, response.content[:500])
    assert response["Content-Type"].startswith("application/problem+json")
    body = response.json()
    assert (body["status"], body["type"].rsplit("/", 1)[-1]) == (status, code), body
    assert body["title"] and body["detail"]
    return body
