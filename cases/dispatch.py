"""How services queue background work: by task name, once the transaction commits.

Services never import a task module (tasks import services, so that would be a circle); they
name the task here and the broker carries the call. Names are the tasks' own (module path and
function), checked against the registered tasks by cases/tests/test_architecture.py.
"""

from __future__ import annotations

from django.db import transaction

from fraudcase.celery import app

INGEST_OBJECT = "cases.ingest.tasks.ingest_object"
SCAN_INBOX = "cases.ingest.tasks.scan_inbox"
INDEX_NEW_EMBEDDINGS = "cases.similarity.tasks.index_new_embeddings"
REFRESH_NEIGHBOUR_VERDICTS = "cases.similarity.tasks.refresh_neighbour_verdicts"
REFRESH_NEIGHBOURS_OF_LABELS = "cases.similarity.tasks.refresh_neighbours_of_labels"
ENRICH_IPS = "cases.ips.tasks.enrich_ips"
COMPUTE_RINGS = "cases.ips.tasks.compute_rings"
EXPORT_LABELS = "cases.labels.tasks.export_labels"
DELIVER_WEBHOOKS = "cases.webhooks.tasks.deliver_webhooks"

TASK_NAMES = (
    INGEST_OBJECT, SCAN_INBOX, INDEX_NEW_EMBEDDINGS, REFRESH_NEIGHBOUR_VERDICTS,
    REFRESH_NEIGHBOURS_OF_LABELS, ENRICH_IPS,
    COMPUTE_RINGS, EXPORT_LABELS, DELIVER_WEBHOOKS,
)  # fmt: skip


def queue(task_name: str, *args, **kwargs) -> None:
    """Send the task now (outside a transaction, or when the caller must not wait)."""
    app.send_task(task_name, args=args, kwargs=kwargs)


def queue_on_commit(task_name: str, *args, robust: bool = True, **kwargs) -> None:
    """Send the task once the current transaction commits, so a worker never sees uncommitted
    rows. robust: a broker hiccup is logged, not raised, where a beat sweep picks the work up
    anyway; robust=False where the caller must hear of it (an operator's re-run)."""
    transaction.on_commit(lambda: queue(task_name, *args, **kwargs), robust=robust)
