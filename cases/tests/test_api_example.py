"""docs/examples/mirror_cases.py works: it mirrors a live server's cases into SQLite (then
only what changed) and tells a genuine webhook delivery from a forged or replayed one."""

from __future__ import annotations

import hashlib
import hmac
import importlib.util
import sqlite3
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.core.cache import cache

from cases.tests.api_fixtures import token_client
from cases.tests.workflow_fixtures import make_case, make_queue, make_user

EXAMPLE = Path(settings.BASE_DIR) / "docs" / "examples" / "mirror_cases.py"
spec = importlib.util.spec_from_file_location("mirror_cases", EXAMPLE)
mirror_cases = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mirror_cases)


def signed(secret: str, timestamp: str, body: bytes) -> str:
    return (
        "v1="
        + hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    )


def test_a_webhook_signature_is_checked_and_old_deliveries_refused():
    now, body = str(int(time.time())), b'{"event": "case.updated"}'
    old = str(int(time.time()) - 301)

    assert mirror_cases.verify_webhook("s3cret", now, signed("s3cret", now, body), body)
    assert not mirror_cases.verify_webhook("s3cret", now, signed("other", now, body), body)
    assert not mirror_cases.verify_webhook("s3cret", now, signed("s3cret", now, body), body + b" ")
    assert not mirror_cases.verify_webhook("s3cret", old, signed("s3cret", old, body), body)


@pytest.mark.django_db(transaction=True)
def test_the_example_mirrors_every_case_then_what_changed(live_server, tmp_path):
    cache.clear()
    general = make_queue("General")
    cases = [make_case(general, transactions=1) for _ in range(3)]
    token = token_client(make_user("lea", "lead"), scope="read").issued.plain
    mirror_cases.PAGE_SIZE = 2  # two pages
    path = str(tmp_path / "mirror.sqlite3")

    first = mirror_cases.mirror(live_server.url, token, path)
    make_case(general, transactions=1)  # changed after the first run
    second = mirror_cases.mirror(live_server.url, token, path)

    rows = sqlite3.connect(path).execute("SELECT reference FROM cases ORDER BY id").fetchall()
    assert (first, second, len(rows)) == (3, 1, 4)
    assert rows[0][0] == cases[0].reference
