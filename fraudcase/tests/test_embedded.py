"""The embedded servers are real, shared between processes, and survive a crash."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from fraudcase import embedded

pytestmark = pytest.mark.slow

BASE_DIR = Path(__file__).resolve().parent.parent.parent

PROBE = """
import json, sys
from pathlib import Path
from fraudcase import embedded
var = Path(sys.argv[1])
urls = {"pg": embedded.postgres_url(var), "redis": embedded.redis_url(var), "s3": embedded.s3_endpoint_url(var)}
import psycopg, redis, boto3
with psycopg.connect(urls["pg"]) as conn:
    urls["pg_version"] = conn.execute("SHOW server_version").fetchone()[0]
    conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
    urls["vector"] = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'").fetchone()[0]
urls["redis_ping"] = redis.Redis(unix_socket_path=urls["redis"].removeprefix("redis+socket://")).ping()
s3 = boto3.client("s3", endpoint_url=urls["s3"], region_name="us-east-1",
                  aws_access_key_id="x", aws_secret_access_key="x")
urls["buckets"] = len(s3.list_buckets()["Buckets"])
print(json.dumps(urls))
"""


def probe(var_dir: Path) -> dict:
    result = subprocess.run(
        [sys.executable, "-c", PROBE, str(var_dir)], cwd=BASE_DIR, capture_output=True,
        text=True, timeout=180,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def server_pids(var_dir: Path) -> dict[str, int]:
    return {
        "pg": int((var_dir / "pg" / "postmaster.pid").read_text().splitlines()[0]),
        "redis": int((var_dir / "redis" / "redis.pid").read_text()),
        "s3": json.loads((var_dir / "s3" / "server.json").read_text())["pid"],
    }


@pytest.fixture
def var_dir(tmp_path):
    path = tmp_path / "var"
    yield path
    embedded.stop_all(path)


def test_a_second_process_reuses_the_servers_the_first_started(var_dir):
    first = probe(var_dir)
    pids = server_pids(var_dir)

    second = probe(var_dir)

    assert first["pg_version"].startswith("16.") and first["vector"].startswith("0.")
    assert first["redis_ping"] is True and first["buckets"] == 0
    assert {k: second[k] for k in ("pg", "redis", "s3")} == {
        k: first[k] for k in ("pg", "redis", "s3")
    }
    assert server_pids(var_dir) == pids
    assert embedded.status(var_dir) == {"postgres": "running", "redis": "running", "s3": "running"}


def test_servers_killed_in_a_crash_are_started_again_despite_stale_files(var_dir):
    probe(var_dir)
    old = server_pids(var_dir)
    for pid in old.values():
        os.kill(pid, signal.SIGKILL)
    assert (var_dir / "pg" / "postmaster.pid").exists()  # the crash left its files behind

    after = probe(var_dir)

    assert after["redis_ping"] is True and after["pg_version"].startswith("16.")
    new = server_pids(var_dir)
    assert all(new[name] != old[name] for name in old)


def test_stop_all_stops_every_server(var_dir):
    probe(var_dir)

    embedded.stop_all(var_dir)

    assert embedded.status(var_dir) == {"postgres": "stopped", "redis": "stopped", "s3": "stopped"}
