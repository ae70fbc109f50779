"""What the API benchmarks share: a service account's token client, and percentiles."""

from __future__ import annotations


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


def service_client(username: str, *, scope: str):
    """An APIClient with a new token of a new service account (created by a new admin)."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from rest_framework.test import APIClient

    from cases.accounts.tokens import api_token_create

    users = get_user_model().objects
    admin = users.create_user("bench-admin", password="a-long-bench-password")
    admin.groups.add(Group.objects.get(name="admin"))
    bot = users.create_user(username, password="a-long-bench-password")
    bot.groups.add(Group.objects.get(name="service"))
    issued = api_token_create(
        actor=users.get(pk=admin.pk), user_id=bot.pk, name="bench", scope=scope
    )
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issued.plain}")
    return client
