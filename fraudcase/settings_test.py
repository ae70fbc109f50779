"""Settings for the test suite: the same as production code paths, on a separate var dir.

Tests start their own embedded servers under var/test so they never touch the demo's data
or queue. Under pytest-xdist (FRAUDCASE_TEST_PROCESSES=2 ./dev test) the worker processes (gw0, gw1,
...) share var/test's PostgreSQL, each in a test database of its own (pytest-django names them
test_fraudcase_gw0, ...), and each has its own Redis (broker and cache) and S3 under
var/test/<worker id>: one process's queue purge, cache clear or buckets never meet another's.
The Celery workers, gunicorn and manage.py a test starts get that process's URLs.
"""

import os
from pathlib import Path

_TEST_VAR_DIR = Path(
    os.environ.get("FRAUDCASE_VAR_DIR") or Path(__file__).resolve().parent.parent / "var" / "test"
)
# Set by xdist in its worker before settings load; the worker inherits FRAUDCASE_VAR_DIR from
# the controlling process (whose settings set it), the subprocesses of a test inherit its own.
_XDIST_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")
if _XDIST_WORKER and _TEST_VAR_DIR.name != _XDIST_WORKER:
    if not os.environ.get("DATABASE_URL"):
        from fraudcase import embedded

        os.environ["DATABASE_URL"] = embedded.postgres_url(_TEST_VAR_DIR)
    _TEST_VAR_DIR = _TEST_VAR_DIR / _XDIST_WORKER
os.environ["FRAUDCASE_VAR_DIR"] = str(_TEST_VAR_DIR)
os.environ.setdefault("FRAUDCASE_INGEST_CHUNK_ROWS", "1000")
# Development mode (embedded servers allowed) unless a test's subprocess asks for production.
os.environ.setdefault("DEBUG", "true")
# Tests' webhook receivers listen on loopback (tests of the refusal turn this off).
os.environ.setdefault("FRAUDCASE_WEBHOOK_ALLOW_PRIVATE_TARGETS", "true")

from fraudcase.settings import *  # noqa: E402,F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast logins in tests
