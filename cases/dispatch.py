"""How services queue background work: by task name, once the transaction commits.

Services never import a task module (tasks import services, so that would be a circle); they
name the task here and the broker carries the call. Names are the tasks' own (module path and
function), checked against the registered tasks by cases/tests/test_architecture.py.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging

from django.core.cache import cache
from django.db import transaction

from fraudcase.celery import app

logger = logging.getLogger(__name__)

INGEST_OBJECT = "cases.ingest.tasks.ingest_object"
SCAN_INBOX = "cases.ingest.tasks.scan_inbox"
INDEX_NEW_EMBEDDINGS = "cases.similarity.tasks.index_new_embeddings"
REFRESH_NEIGHBOUR_VERDICTS = "cases.similarity.tasks.refresh_neighbour_verdicts"
REFRESH_NEIGHBOURS_OF_LABELS = "cases.similarity.tasks.refresh_neighbours_of_labels"
ENRICH_IPS = "cases.ips.tasks.enrich_ips"
COMPUTE_RINGS = "cases.ips.tasks.compute_rings"
EXPORT_LABELS = "cases.labels.tasks.export_labels"
DELIVER_WEBHOOKS = "cases.webhooks.tasks.deliver_webhooks"
COMPUTE_CURATION = "analytics.tasks.compute_curation"

TASK_NAMES = (
    INGEST_OBJECT, SCAN_INBOX, INDEX_NEW_EMBEDDINGS, REFRESH_NEIGHBOUR_VERDICTS,
    REFRESH_NEIGHBOURS_OF_LABELS, ENRICH_IPS,
    COMPUTE_RINGS, EXPORT_LABELS, DELIVER_WEBHOOKS, COMPUTE_CURATION,
)  # fmt: skip


def queue(task_name: str, *args, **kwargs) -> None:
    """Send the task now (outside a transaction, or when the caller must not wait)."""
    app.send_task(task_name, args=args, kwargs=kwargs)


def queue_on_commit(task_name: str, *args, robust: bool = True, **kwargs) -> None:
    """Send the task once the current transaction commits, so a worker never sees uncommitted
    rows. robust: a broker hiccup is logged, not raised, where a beat sweep picks the work up
    anyway; robust=False where the caller must hear of it (an operator's re-run). Inside
    sends_batched(), the send waits for the end of that block (after the commit)."""
    transaction.on_commit(lambda: _send_or_hold(task_name, args, kwargs, robust), robust=robust)


# The tasks held by the innermost-but-first sends_batched() block of this thread or task.
_held: contextvars.ContextVar[list | None] = contextvars.ContextVar(
    "fraudcase_dispatch_held", default=None
)


def _send_or_hold(task_name: str, args: tuple, kwargs: dict, robust: bool) -> None:
    held = _held.get()
    if held is None:
        queue(task_name, *args, **kwargs)
    else:
        held.append((task_name, args, kwargs, robust))


@contextlib.contextmanager
def sends_batched():
    """Tasks queued on commit by a transaction that commits inside this block go to the broker
    together, in one round trip, when the block ends (instead of one round trip each as the
    commit runs its hooks). What a rolled-back transaction or savepoint queued is never sent,
    as without the block. Nested blocks leave it to the outermost. A broker error is raised
    when any of the tasks was queued with robust=False, else logged (as on_commit does)."""
    if _held.get() is not None:
        yield
        return
    held: list[tuple[str, tuple, dict, bool]] = []
    token = _held.set(held)
    try:
        yield
    finally:
        _held.reset(token)
        _send_all(held)


def _send_all(held: list[tuple[str, tuple, dict, bool]]) -> None:
    if not held:
        return
    try:
        with app.producer_or_acquire() as producer:
            batch = getattr(producer, "batch", None)  # kombu >= 5.7: one Redis pipeline
            with batch() if batch is not None and len(held) > 1 else contextlib.nullcontext():
                for task_name, args, kwargs, _robust in held:
                    app.send_task(task_name, args=args, kwargs=kwargs, producer=producer)
    except Exception:
        if not all(robust for *_, robust in held):
            raise
        logger.exception("could not queue %s", ", ".join(name for name, *_ in held))


def queue_once_on_commit(task_name: str, *, pending_seconds: int) -> None:
    """Send the task once the current transaction commits, unless one is already pending:
    queued and not yet started. A task that does all waiting work (the label export) needs no
    second message for work committed before it starts, so 500 labels saved in a minute queue
    one task, not 500 (no broker flood).

    "Pending" is a key in the shared cache (Redis: SET NX with an expiry), set here and
    cleared by the task when it starts (pending_clear). The expiry bounds the harm of a lost
    message or a failed send: after pending_seconds a save queues a task again, and the task's
    beat sweep does the work meanwhile. Robust, like queue_on_commit: a broker or cache outage
    is logged, not raised into the caller's committed change.
    """
    transaction.on_commit(lambda: _queue_unless_pending(task_name, pending_seconds), robust=True)


def _pending_key(task_name: str) -> str:
    return f"fraudcase:task-pending:{task_name}"


def _queue_unless_pending(task_name: str, pending_seconds: int) -> None:
    if not cache.add(_pending_key(task_name), 1, timeout=pending_seconds):
        return  # one is queued and has not started: it will take this work too
    try:
        queue(task_name)
    except Exception:
        cache.delete(_pending_key(task_name))  # not sent: the next save tries again
        raise


def pending_clear(task_name: str) -> None:
    """The task has started: work committed from now on queues a new one. Call it first thing
    in the task, before it looks for work."""
    try:
        cache.delete(_pending_key(task_name))
    except Exception:  # the cache is out of reach: the key expires on its own
        logger.warning("could not clear the pending mark of %s", task_name, exc_info=True)
