"""The Celery app: settings come from Django's (CELERY_* names)."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fraudcase.settings")

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
        "analytics",
    ]
)
