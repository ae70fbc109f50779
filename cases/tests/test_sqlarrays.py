"""Array literals reach PostgreSQL as the very values they were built from."""

from decimal import Decimal

import pytest
from django.db import connection

from cases.sqlarrays import number_array, text_array

pytestmark = pytest.mark.django_db

AWKWARD_TEXTS = [
    "", " ", "plain", 'a "quoted" id', "back\\slash", "\\", '"', "{braces}", "a,b", "NULL",
    "null", "tab\there", "new\nline", "Café ☕", "ends with backslash\\", "'single'",
]  # fmt: skip


def test_text_array_round_trips_awkward_values():
    with connection.cursor() as cursor:
        cursor.execute("SELECT %s::text[]", [text_array(AWKWARD_TEXTS)])
        assert cursor.fetchone()[0] == AWKWARD_TEXTS


def test_number_arrays_round_trip():
    integers = [0, -1, 2**62, 7]
    floats = [0.0, 1e-05, 0.1, 123456.789, 1.0]
    decimals = [Decimal("0.01"), Decimal("1E+2"), Decimal("-5.50"), Decimal("99999999999.99")]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT %s::bigint[], %s::float8[], %s::numeric[]",
            [number_array(integers), number_array(floats), number_array(decimals)],
        )
        got_integers, got_floats, got_decimals = cursor.fetchone()
    assert got_integers == integers
    assert got_floats == floats
    assert got_decimals == decimals


def test_empty_arrays():
    with connection.cursor() as cursor:
        cursor.execute("SELECT %s::text[], %s::bigint[]", [text_array([]), number_array([])])
        assert cursor.fetchone() == ([], [])
