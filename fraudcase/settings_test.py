"""Settings for the test suite: the same as production code paths, on a separate var dir.

Tests start their own embedded servers under var/test so they never touch the demo's data
or queue.
"""

import os
from pathlib import Path

os.environ.setdefault(
    "FRAUDCASE_VAR_DIR", str(Path(__file__).resolve().parent.parent / "var" / "test")
)
os.environ.setdefault("FRAUDCASE_INGEST_CHUNK_ROWS", "1000")
# Development mode (embedded servers allowed) unless a test's subprocess asks for production.
os.environ.setdefault("DEBUG", "true")
# Tests' webhook receivers listen on loopback (tests of the refusal turn this off).
os.environ.setdefault("FRAUDCASE_WEBHOOK_ALLOW_PRIVATE_TARGETS", "true")

from fraudcase.settings import *  # noqa: E402,F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast logins in tests
