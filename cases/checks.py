"""System checks that compare settings with what the database was built with."""

from __future__ import annotations

import re

from django.conf import settings
from django.core import checks
from django.db import DatabaseError, connection

# The vector columns whose size FRAUDCASE_EMBEDDING_DIM must match.
EMBEDDING_COLUMNS = (("cases_transaction", "embedding"),)


def embedding_column_dimension(table: str, column: str) -> int | None:
    """The declared size of a pgvector column, or None when the table or column is absent."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
            "WHERE attrelid = to_regclass(%s) AND attname = %s AND NOT attisdropped",
            [table, column],
        )
        row = cursor.fetchone()
    match = re.fullmatch(r"vector\((\d+)\)", row[0]) if row else None
    return int(match.group(1)) if match else None


@checks.register(checks.Tags.database)
def check_embedding_dimension(
    app_configs=None, databases=None, **kwargs
) -> list[checks.CheckMessage]:
    """fraudcase.E001: FRAUDCASE_EMBEDDING_DIM differs from the embedding column's size.

    Without it every row of every file was quarantined ("embedding has 29 values, expected
    384") and the runs still succeeded. A database check: `migrate` and
    `manage.py check --database default` run it (plain `check` and runserver read no database),
    and a Celery worker logs it at start (fraudcase/celery.py). A database out of reach is not
    this check's error.
    """
    if not databases or "default" not in databases:
        return []  # Django asks database checks only when told which databases to read
    expected = settings.FRAUDCASE_EMBEDDING_DIM
    problems: list[checks.CheckMessage] = []
    try:
        for table, column in EMBEDDING_COLUMNS:
            actual = embedding_column_dimension(table, column)
            if actual is not None and actual != expected:
                problems.append(
                    checks.Error(
                        f"FRAUDCASE_EMBEDDING_DIM is {expected} but the database column "
                        f"{table}.{column} holds vectors of {actual}: every embedding would be "
                        "refused.",
                        hint=f"Set FRAUDCASE_EMBEDDING_DIM={actual} (the size the database was "
                        "created with), or migrate a new database with the size the detector "
                        "sends.",
                        id="fraudcase.E001",
                    )
                )
    except DatabaseError:
        return []  # no database yet (first install, collectstatic): nothing to compare
    return problems
