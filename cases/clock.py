"""One clock for every host: the database's.

Web servers and workers run on hosts whose clocks drift apart; what must compare across them
(the audit trail's times, SLA due times and breaches, the label guard's burst window, the
label export's partitions) reads the database's clock instead. In SQL, write `now()` (or
django.db.models.functions.Now() in a query); in Python, call database_now().
"""

from __future__ import annotations

from datetime import datetime

from django.db import connection


def database_now() -> datetime:
    """The database's now(): the current transaction's start time, so every call inside one
    transaction gets the same instant (and the rows it writes agree with each other); outside
    a transaction, the time of this statement. Time-zone aware (UTC)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT now()")
        return cursor.fetchone()[0]
