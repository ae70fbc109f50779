"""One clock for every host: the database's.

Web servers and workers run on hosts whose clocks drift apart; what must compare across them
(the audit trail's times, SLA due times and breaches, the label guard's burst window, the
label export's partitions) reads the database's clock instead. In SQL, write `now()`; in a
query, DatabaseNow(); in Python, call database_now(). All three are the same instant within a
transaction (Django's own Now() is statement_timestamp(), which moves on within one).
"""

from __future__ import annotations

from datetime import datetime

from django.db import connection
from django.db.models import DateTimeField, Func


def database_now() -> datetime:
    """The database's now(): the current transaction's start time, so every call inside one
    transaction gets the same instant (and the rows it writes agree with each other); outside
    a transaction, the time of this statement. Time-zone aware (UTC)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT now()")
        return cursor.fetchone()[0]


class DatabaseNow(Func):
    """now() in a query (an annotation, a filter): database_now()'s instant."""

    template = "now()"
    output_field = DateTimeField()
