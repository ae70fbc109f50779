"""The Celery app: settings come from Django's (CELERY_* names)."""

import logging
import os

from celery import Celery
from celery.signals import worker_ready

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fraudcase.settings")

logger = logging.getLogger(__name__)
# Celery's retry_backoff_max when a task with retry_backoff sets none.
DEFAULT_BACKOFF_MAX = 600

app = Celery("fraudcase")
app.config_from_object("django.conf:settings", namespace="CELERY")
# Each feature keeps its tasks beside it (cases/<feature>/tasks.py).
app.autodiscover_tasks(
    [
        "cases.ingest",
        "cases.similarity",
        "cases.ips",
        "cases.labels",
        "cases.audit",
        "cases.webhooks",
        "cases.watchers",
        "cases.shadow",
        "analytics",
    ]
)


def tasks_outliving_visibility(celery_app=app, *, import_modules: bool = True) -> list[str]:
    """The project's tasks that may still run when the broker's visibility timeout hands them
    to a second worker: no hard time limit, a limit at or past the timeout, or a retry delay
    (backoff) that long. Empty when the configuration is consistent."""
    timeout = (celery_app.conf.broker_transport_options or {}).get("visibility_timeout")
    if timeout is None:
        return []
    if import_modules:
        celery_app.loader.import_default_modules()
    found = []
    for name, task in sorted(celery_app.tasks.items()):
        if name.startswith("celery."):
            continue
        limit = task.time_limit or celery_app.conf.task_time_limit
        if limit is None or limit >= timeout:
            found.append(f"{name}: time limit {limit} s, visibility timeout {timeout} s")
        backoff = getattr(task, "retry_backoff_max", DEFAULT_BACKOFF_MAX)
        if getattr(task, "retry_backoff", False) and backoff >= timeout:
            found.append(f"{name}: retry backoff up to {backoff} s, visibility timeout {timeout} s")
    return found


@worker_ready.connect
def _warn_of_tasks_outliving_visibility(**_kwargs) -> None:
    # The worker has imported its tasks by now. Importing them again here would re-run
    # Django's logging setup under Celery's redirected stderr and silence the worker's log.
    for line in tasks_outliving_visibility(import_modules=False):
        logger.warning("may run twice (CELERY_VISIBILITY_TIMEOUT too short): %s", line)


@worker_ready.connect
def _warn_of_embedding_size_mismatch(**_kwargs) -> None:
    from cases.checks import check_embedding_dimension

    for problem in check_embedding_dimension(databases=["default"]):
        logger.error("%s (%s) %s", problem.msg, problem.id, problem.hint)
