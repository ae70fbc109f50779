"""How services queue background work: by task name, once the transaction commits.

Services never import a task module (tasks import services, so that would be a circle); they
name the task here and the broker carries the call. Names are the tasks' own (module path and
function), checked against the registered tasks by cases/tests/test_architecture.py.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging

from django.db import transaction

from fraudcase.celery import app

logger = logging.getLogger(__name__)

INGEST_OBJECT = "cases.ingest.tasks.ingest_object"
SCAN_INBOX = "cases.ingest.tasks.scan_inbox"
INDEX_NEW_EMBEDDINGS = "cases.similarity.tasks.index_new_embeddings"
REFRESH_NEIGHBOUR_VERDICTS = "cases.similarity.tasks.refresh_neighbour_verdicts"
ENRICH_IPS = "cases.ips.tasks.enrich_ips"
COMPUTE_RINGS = "cases.ips.tasks.compute_rings"
EXPORT_LABELS = "cases.labels.tasks.export_labels"
DELIVER_WEBHOOKS = "cases.webhooks.tasks.deliver_webhooks"

TASK_NAMES = (
    INGEST_OBJECT, SCAN_INBOX, INDEX_NEW_EMBEDDINGS, REFRESH_NEIGHBOUR_VERDICTS, ENRICH_IPS,
    COMPUTE_RINGS, EXPORT_LABELS, DELIVER_WEBHOOKS,
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
