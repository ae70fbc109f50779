"""The admin site's pages, one module per feature (Django reads only this one)."""

from cases.accounts import admin as accounts_admin  # noqa: F401
from cases.audit import admin as audit_admin  # noqa: F401
from cases.currency import admin as currency_admin  # noqa: F401
from cases.ingest import admin as ingest_admin  # noqa: F401
from cases.ips import admin as ips_admin  # noqa: F401
from cases.labels import admin as labels_admin  # noqa: F401
from cases.shadow import admin as shadow_admin  # noqa: F401
from cases.webhooks import admin as webhooks_admin  # noqa: F401
from cases.workflow import admin as workflow_admin  # noqa: F401
