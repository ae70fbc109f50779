"""Who holds a lease kept in a row (an ingest run's, a label export batch's): a token naming
the host and process, and whether that process is gone.

A lease in a row, not a session-level advisory lock, works behind a transaction-pooling
PgBouncer; a lease whose holder was a process of this host that no longer exists (a worker
killed mid-task, its task redelivered here at once) is free without waiting for it to expire.
A holder on another host is judged by its lease's time only.
"""

from __future__ import annotations

import os
import socket
import uuid


def new_token() -> str:
    """host:pid:random, unique per claim."""
    return f"{socket.gethostname()[:80]}:{os.getpid()}:{uuid.uuid4().hex[:12]}"


def holder_gone_from_this_host(token: str) -> bool:
    """Was the lease taken by a process of this host that no longer exists?"""
    host, _, rest = token.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname()[:80] or not pid_text.isdecimal():
        return False
    try:
        os.kill(int(pid_text), 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return True
    except PermissionError:  # exists, under another user
        return False
    return False
