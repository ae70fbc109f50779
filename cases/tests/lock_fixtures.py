"""Concurrency at the database, for lock-order tests: work in threads with their own
connections, a separate connection holding a row lock, and waiting until a backend waits."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from django.db import connection


class InThread:
    """Run work() in a thread on its own database connection; .pid is its backend."""

    def __init__(self, work: Callable[[], object]) -> None:
        self.result, self.error, self.pid = None, None, None
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(work,), daemon=True)
        self._thread.start()
        assert self._started.wait(30), "the thread did not reach the database"

    def _run(self, work) -> None:
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                self.pid = cursor.fetchone()[0]
            self._started.set()
            self.result = work()
        except BaseException as error:  # surfaced by join()
            self.error = error
        finally:
            self._started.set()
            connection.close()

    def done(self) -> bool:
        return not self._thread.is_alive()

    def join(self, timeout: float = 60) -> InThread:
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "the thread is still running"
        return self


def waits_for_a_row_lock(pid: int) -> bool:
    with connection.cursor() as cursor:
        # Inside a transaction the statistics views are read once: read them afresh.
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute(
            "SELECT wait_event_type, wait_event FROM pg_stat_activity WHERE pid = %s", [pid]
        )
        row = cursor.fetchone()
    # A row lock's wait: on the holder's transaction, or queued for the row behind another.
    return row is not None and row[0] == "Lock" and row[1] in ("transactionid", "tuple")


def waits_for_an_advisory_lock(pid: int) -> bool:
    """The backend waits for an advisory lock (the audit chain's: cases.audit.trail)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute(
            "SELECT wait_event_type, wait_event FROM pg_stat_activity WHERE pid = %s", [pid]
        )
        row = cursor.fetchone()
    return row is not None and row[0] == "Lock" and row[1] == "advisory"


def until_blocked_or_done(
    worker: InThread, timeout: float = 20, *, waits: Callable[[int], bool] = waits_for_a_row_lock
) -> None:
    """Wait until the worker's backend waits for a row lock, or what waits() says (or the
    worker has finished)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if worker.done() or waits(worker.pid):
            return
        time.sleep(0.02)
    raise AssertionError(f"backend {worker.pid} neither waited for a lock nor finished")


class RowLocker:
    """A connection of its own holding one row lock until release()."""

    def __init__(self, sql: str, params: list) -> None:
        self._connection = connection.get_new_connection(connection.get_connection_params())
        self._connection.autocommit = False
        self._connection.execute(sql, params)

    def release(self) -> None:
        self._connection.commit()
        self._connection.close()
