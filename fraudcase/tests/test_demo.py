"""The one-command demo: services, data through S3 -> Celery -> Postgres, a web server, Ctrl-C."""

import http.cookiejar
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from fraudcase import embedded

pytestmark = pytest.mark.slow

BASE_DIR = Path(__file__).resolve().parent.parent.parent
TRANSACTIONS = 1500


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _ignore_sigint() -> None:
    """Start the demo as a shell's background job starts it (SIGINT ignored: nohup, `&`): its
    Ctrl-C must stop everything all the same."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


class DemoProcess:
    def __init__(self, var_dir: Path, port: int) -> None:
        env = {
            k: v for k, v in os.environ.items()
            if k not in ("DATABASE_URL", "CELERY_BROKER_URL", "FRAUDCASE_S3_ENDPOINT_URL",
                         "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
        }  # fmt: skip
        # DEBUG on, as ./dev demo sets it: the demo runs on the embedded servers.
        env.update(DJANGO_SETTINGS_MODULE="fraudcase.settings", FRAUDCASE_VAR_DIR=str(var_dir),
                   DEBUG="true", PYTHONUNBUFFERED="1")  # fmt: skip
        self.process = subprocess.Popen(
            [sys.executable, "manage.py", "demo", f"--port={port}",
             f"--transactions={TRANSACTIONS}", "--accounts=300"],
            cwd=BASE_DIR, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            preexec_fn=_ignore_sigint,
        )  # fmt: skip
        self.output: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.output.append(line)

    def text(self) -> str:
        return "".join(self.output)

    def wait_for(self, marker: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if marker in self.text():
                return
            if self.process.poll() is not None:
                break
            time.sleep(0.3)
        raise AssertionError(f"demo never printed {marker!r}; it printed:\n{self.text()[-4000:]}")

    def interrupt(self) -> int:
        self.process.send_signal(signal.SIGINT)  # what Ctrl-C sends
        return self.process.wait(90)


def signed_in_overview(port: int) -> str:
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    login_url = f"http://127.0.0.1:{port}/auth/login/"
    page = opener.open(login_url).read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    form = {
        "username": "analyst",
        "password": "fraudcase-demo",
        "csrfmiddlewaretoken": token,
        "next": "/overview/",
    }
    return opener.open(login_url, urllib.parse.urlencode(form).encode()).read().decode()


def test_the_demo_starts_serves_stops_on_ctrl_c_and_reuses_its_data(tmp_path):
    var_dir = tmp_path / "var"
    port = free_port()
    try:
        demo = DemoProcess(var_dir, port)
        demo.wait_for("FraudCase is ready at", timeout=300)

        with urllib.request.urlopen(f"http://127.0.0.1:{port}/auth/login/") as response:
            assert response.status == 200
        overview = signed_in_overview(port)
        assert f'<span class="figure">{TRANSACTIONS}</span> flagged transactions' in overview
        assert '<span class="figure">25</span> quarantined rows' in overview
        assert "part-0006-needs-review.csv" in overview
        assert len(processes_started_for(var_dir)) >= 5  # demo, worker, beat, web, servers

        assert demo.interrupt() == 0
        assert "Stopped." in demo.text()
        assert embedded.status(var_dir) == {
            "postgres": "stopped",
            "redis": "stopped",
            "s3": "stopped",
        }
        assert processes_started_for(var_dir) == []

        again = DemoProcess(var_dir, port)
        again.wait_for("FraudCase is ready at", timeout=180)
        assert "Demo data already loaded: reusing it" in again.text()
        assert "Created the demo account" not in again.text()
        assert (
            f'<span class="figure">{TRANSACTIONS}</span> flagged transactions'
            in signed_in_overview(port)
        )
        assert again.interrupt() == 0
    finally:
        embedded.stop_all(var_dir)


def processes_started_for(var_dir: Path) -> list[int]:
    """Pids whose environment names this var dir: the demo's children inherit it."""
    marker = f"FRAUDCASE_VAR_DIR={var_dir}".encode()
    pids = []
    for environ_file in Path("/proc").glob("[0-9]*/environ"):
        try:
            if marker in environ_file.read_bytes().split(b"\0"):
                pids.append(int(environ_file.parent.name))
        except OSError:
            continue
    return pids
