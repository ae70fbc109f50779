#!/usr/bin/env python3
"""Mirror every FraudCase case you may read into a local SQLite file, then keep it current.

    FRAUDCASE_TOKEN=fc_... python mirror_cases.py https://fraudcase.example.com cases.sqlite3

The first run walks every cursor page of GET /api/v1/cases/; later runs ask only for what
changed since the newest `updated_at` seen (updated_since). Merged cases arrive as tombstones
(tombstone: true, merged_into). Standard library only.

It also shows how to check a webhook's signature (verify_webhook below):

    python mirror_cases.py verify-webhook <secret> <timestamp> <signature-header> < body.json
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import sqlite3
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

PAGE_SIZE = 500  # the API's maximum; more is a 400, not a silent cap
REPLAY_WINDOW_SECONDS = 300


def get_json(url: str, token: str) -> dict:
    """GET with the token; waits out a 429 (Retry-After) and retries."""
    request = urllib.request.Request(
        url, headers={"Authorization": f"Bearer {token}", "Accept": "application/json"}
    )
    while True:
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return json.load(response)
        except urllib.error.HTTPError as error:
            if error.code == 429:
                time.sleep(int(error.headers.get("Retry-After", "5")))
                continue
            problem = json.loads(error.read() or b"{}")  # RFC 9457 problem details
            detail = f"{error.code} {problem.get('title')}: {problem.get('detail')}"
            raise SystemExit(detail) from None


def open_mirror(path: str) -> sqlite3.Connection:
    db = sqlite3.connect(path)
    db.execute(
        "CREATE TABLE IF NOT EXISTS cases (id INTEGER PRIMARY KEY, reference TEXT, status TEXT,"
        " tombstone INTEGER, merged_into TEXT, updated_at TEXT, etag TEXT, body TEXT)"
    )
    db.execute("CREATE TABLE IF NOT EXISTS sync (key TEXT PRIMARY KEY, value TEXT)")
    return db


def mirror(base_url: str, token: str, path: str) -> int:
    """Fetch what changed since the last run (everything the first time); returns how many."""
    db = open_mirror(path)
    row = db.execute("SELECT value FROM sync WHERE key = 'updated_since'").fetchone()
    query = {"page_size": PAGE_SIZE}
    if row:
        query["updated_since"] = row[0]
    url = f"{base_url.rstrip('/')}/api/v1/cases/?{urllib.parse.urlencode(query)}"
    newest, count = row[0] if row else None, 0
    while url:
        page = get_json(url, token)
        with db:  # one transaction per page: a crash resumes from the last whole page
            for case in page["results"]:
                db.execute(
                    "INSERT OR REPLACE INTO cases VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (case["id"], case["reference"], case["status"], case["tombstone"],
                     case["merged_into"], case["updated_at"], case["etag"], json.dumps(case)),
                )  # fmt: skip
                newest = max(newest or case["updated_at"], case["updated_at"])
                count += 1
            if newest:
                db.execute("INSERT OR REPLACE INTO sync VALUES ('updated_since', ?)", (newest,))
        url = page["next"]  # cursor pages in change order: follow next until null
    return count


def verify_webhook(secret: str, timestamp: str, signature_header: str, body: bytes) -> bool:
    """True for a genuine, fresh delivery: X-FraudCase-Signature is v1=<hex HMAC-SHA256 of
    "<timestamp>.<body>"> under the webhook's secret, and X-FraudCase-Timestamp (Unix seconds)
    is within 5 minutes of now (an old delivery replayed is refused)."""
    try:
        if abs(time.time() - int(timestamp)) > REPLAY_WINDOW_SECONDS:
            return False
    except ValueError:
        return False
    expected = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    signatures = [part.strip() for part in signature_header.split(",")]
    return any(
        hmac.compare_digest(f"v1={expected.hexdigest()}", signature) for signature in signatures
    )


def main(argv: list[str]) -> None:
    if len(argv) == 5 and argv[1] == "verify-webhook":
        ok = verify_webhook(argv[2], argv[3], argv[4], sys.stdin.buffer.read())
        print("valid" if ok else "INVALID")
        raise SystemExit(0 if ok else 1)
    if len(argv) != 3 or not os.environ.get("FRAUDCASE_TOKEN"):
        raise SystemExit(__doc__)
    count = mirror(argv[1], os.environ["FRAUDCASE_TOKEN"], argv[2])
    print(f"{count} case(s) fetched into {argv[2]}")


if __name__ == "__main__":
    main(sys.argv)
