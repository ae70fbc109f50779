"""Run an iterator in a thread, a bounded number of items ahead of the one consuming it."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import TypeVar

T = TypeVar("T")

_DONE = object()
_POLL_SECONDS = 0.1


def in_background(items: Iterator[T], *, depth: int = 1) -> Iterator[T]:
    """Yield what items yields, produced in a daemon thread at most depth items ahead.

    An exception in items is raised here after the items produced before it, in order. When
    the consumer stops early (an exception, or it drops this generator), the thread stops at
    its next item and closes items, so files and temporary spools it holds are released.
    The producer must not touch the database: Django connections belong to their thread.
    """
    handoff: queue.Queue = queue.Queue(maxsize=max(1, depth))
    stop = threading.Event()

    def offer(item) -> bool:
        while not stop.is_set():
            try:
                handoff.put(item, timeout=_POLL_SECONDS)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not offer((item, None)):
                    return
            offer((_DONE, None))
        except BaseException as exc:  # handed over to the consumer, raised there
            offer((_DONE, exc))
        finally:
            close = getattr(items, "close", None)
            if stop.is_set() and close is not None:
                close()

    thread = threading.Thread(target=produce, name="fraudcase-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            item, error = handoff.get()
            if item is _DONE:
                if error is not None:
                    raise error
                return
            yield item
    finally:
        stop.set()
        # It stops at its next item; one stuck in a read (S3 times out) is left behind.
        thread.join(timeout=120)
